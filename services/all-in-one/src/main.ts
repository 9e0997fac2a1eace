import { runEmbedded } from "./index.js";

try {
  const { server, config } = await runEmbedded();
  process.stdout.write(`Kiln is running at ${server.url} (data in ${config.dataDir}). Try: npx kiln datasets\n`);
} catch {
  process.exit(process.exitCode ?? 1);
}

import { existsSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { Kiln, KilnApiError, UnauthenticatedError, UnavailableError } from "@kiln/sdk";
import { datasetCommands } from "./datasets.js";
import { experimentCommands } from "./experiments.js";
import { runCommands } from "./runs.js";
import { traceCommands } from "./traces.js";
import { jobCommands } from "./jobs.js";
import { modelCommands } from "./models.js";
import { runtimeCommands } from "./runtime.js";
import { gridSearchCommand } from "./grid-search.js";
import { driftCommands } from "./drift.js";
import { scheduleCommands } from "./schedules.js";
import { webhookCommands } from "./webhooks.js";
import { deploymentCommands } from "./deployments.js";
import { inferenceGraphCommands } from "./inference-graphs.js";
import { initCommand } from "./init.js";
import { tokenCommands } from "./tokens.js";
import { loginCommands } from "./login.js";
import type { Output } from "./output.js";
import { cliVersion } from "./version.js";
import { completionCommand } from "./completion.js";

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  // Alone (beside the global options) only: commands take a --version of their own (a dataset's, a model's).
  const words = argv.slice(2).filter((a, i, all) => a !== "--json" && a !== "--url" && all[i - 1] !== "--url" && !a.startsWith("--url="));
  if (words.length === 1 && (words[0] === "--version" || words[0] === "-V")) {
    process.stdout.write(`${cliVersion()}\n`);
    return 0;
  }
  const program = new Command("kiln")
    .description("Kiln: datasets, models, runtime and tracking from the command line (kiln --version: this CLI's)")
    .option("--url <url>", "server URL (default: $KILN_URL or http://127.0.0.1:7070)")
    .option("--json", "print JSON for scripts")
    .exitOverride()
    .showHelpAfterError();
  let kiln: Kiln | undefined;
  const connect = async () => (kiln ??= await Kiln.connect({ url: program.opts().url }));
  const output = (): Output => ({ json: Boolean(program.opts().json), out: process.stdout, err: process.stderr });

  program
    .command("serve")
    .description("run Kiln embedded: every service in one process (config from KILN_* variables)")
    .action(async () => {
      // Server code stays out of the CLI's dependencies; it is loaded only for this command.
      const entry = "@kiln/all-in-one";
      const { runEmbedded } = (await import(entry)) as { runEmbedded: () => Promise<unknown> };
      // A start that fails has said why on stderr, with its exit status.
      await runEmbedded().catch(() => process.exit(process.exitCode ?? 1));
      await new Promise(() => {}); // serve until a signal stops the process
    });

  datasetCommands(program, connect, output);
  modelCommands(program, connect, output);
  driftCommands(program, connect, output);
  scheduleCommands(program, connect, output);
  webhookCommands(program, connect, output);
  runtimeCommands(program, connect, output);
  gridSearchCommand(program, connect, output);
  jobCommands(program, connect, output);
  deploymentCommands(program, connect, output);
  inferenceGraphCommands(program, connect, output);
  initCommand(program, output);
  experimentCommands(program, connect, output);
  runCommands(program, connect, output);
  traceCommands(program, connect, output);
  tokenCommands(program, output);
  loginCommands(program, connect, output);
  completionCommand(program, output);

  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof KilnApiError) {
      process.stderr.write(`kiln: ${e.message}${e.reason ? ` (${e.reason})` : ""}\n`);
      if (e instanceof UnauthenticatedError) process.stderr.write("kiln: set KILN_TOKEN to a token this server accepts: one `kiln tokens:create` mints where its KILN_AUTH_SECRETS are, or its identity provider's\n");
      if (unreachable(e)) process.stderr.write(`kiln: is Kiln running at ${kiln?.url}? Start it with npm start, or point --url or KILN_URL at it\n`);
      const file = localFileNamedLike(e);
      if (file) process.stderr.write(`kiln: ${file} is a file here; a local file is given by a path with a "/": ./${file}\n`);
      return 1;
    }
    throw e;
  }
}

/** A dataset not found whose name is a file in the working directory (`runtime:predict m new.csv`, meant as ./new.csv). */
function localFileNamedLike(e: KilnApiError): string | undefined {
  const id = e.reason === "DATASET_NOT_FOUND" ? e.metadata.dataset?.split("/").pop() : undefined;
  return id && existsSync(id) ? id : undefined;
}

/** No server answered at all (nothing listens, no such host), as opposed to one that answered with an error. */
function unreachable(e: KilnApiError): boolean {
  return e instanceof UnavailableError && /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(e.message);
}

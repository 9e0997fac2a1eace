#!/usr/bin/env node
import { main } from "../dist/kiln.mjs";

// A reader that stops early (`kiln runtime:predict m x | head`) is not an error: stop quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}

main(process.argv).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`kiln: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);

#!/usr/bin/env node
import { main } from "../dist/index.js";

main(process.argv).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`kiln: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);

// Bundles the CLI (dist/index.js and what it imports) into one file, dist/kiln.mjs, which
// bin/kiln.js runs: Node resolves and links some 500 modules otherwise, about half of a
// command's time (0.78 s → 0.32 s for `kiln jobs`).
import { build } from "esbuild";

await build({
  entryPoints: ["dist/index.js"],
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  outfile: "dist/kiln.mjs",
  logLevel: "warning",
  // Bundled CommonJS calls require(); in an ES module it has to be made.
  banner: { js: 'import { createRequire as createRequireOfBundle } from "node:module"; const require = createRequireOfBundle(import.meta.url);' },
  // Loaded only by the commands that need them, from node_modules as they are: @kiln/sdk/ml
  // starts worker threads from files beside its own; the SQL sources' drivers find their
  // native code beside theirs.
  external: ["@kiln/sdk/ml", "better-sqlite3", "pg", "pg-cursor"],
});

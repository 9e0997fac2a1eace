import { createRequire } from "node:module";

/** The CLI's own version (its package.json is one folder up from dist/, bundled or not). */
export function cliVersion(): string {
  return (createRequire(import.meta.url)("../package.json") as { version: string }).version;
}

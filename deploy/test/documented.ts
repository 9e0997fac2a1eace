import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ENTRY_POINT, REPO } from "./plan.js";

/** The KILN_* variables README's Configuration table documents. */
export function documentedVariables(): Set<string> {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Tests"));
  return new Set(table.match(/KILN_[A-Z0-9_]+/g));
}

/** Variables a file sets that README does not document (a misspelt one is silently ignored by Kiln). */
export function undocumented(env: Record<string, string>): string[] {
  const known = documentedVariables();
  return Object.keys(env).filter((k) => k.startsWith("KILN_") && !known.has(k));
}

/** Whether `services/<name>/dist/main.js` is built from a source entry point in this repository. */
export function hasEntryPoint(script: string): boolean {
  const name = ENTRY_POINT.exec(script)?.[1];
  return name !== undefined && existsSync(join(REPO, "services", name, "src/main.ts"));
}

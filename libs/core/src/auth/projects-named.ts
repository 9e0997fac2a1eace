const PROJECT_OF = /^projects\/([^/]*)/;

/**
 * The project ids a request names anywhere in it: in its parent or name, in a job's
 * model and datasets, in a model version's lineage. Bytes (data) are skipped. An empty
 * project part ("projects//…") is kept as "", which no token holds.
 */
export function projectsNamed(message: unknown, into = new Set<string>()): Set<string> {
  visit(message, into, 0);
  return into;
}

// Messages nest a few levels; the bound stops a hostile self-referencing value (there are none from protobuf) early.
const MAX_DEPTH = 32;

function visit(value: unknown, into: Set<string>, depth: number): void {
  if (typeof value === "string") {
    const m = PROJECT_OF.exec(value);
    if (m) into.add(m[1]!);
    return;
  }
  if (typeof value !== "object" || value === null || value instanceof Uint8Array || depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    for (const item of value) visit(item, into, depth + 1);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key !== "$typeName") visit(item, into, depth + 1);
  }
}

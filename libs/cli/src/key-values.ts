import type { JsonObject, JsonValue } from "@kiln/sdk";

/** `key=value` arguments (repeatable flags, variadic arguments) as an object. */
export function parsePairs(what: string, pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf("=");
    if (i < 1) throw new Error(`${what} takes key=value, got "${p}"`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

/** Like parsePairs, but values that parse as JSON are JSON: `accuracy=0.91` is a number, `name=v2` a string. */
export function parseJsonPairs(what: string, pairs: string[] | undefined): JsonObject {
  return Object.fromEntries(Object.entries(parsePairs(what, pairs)).map(([k, v]) => [k, jsonOrString(v)]));
}

export function jsonOrString(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** Repeatable flags collect into a list. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

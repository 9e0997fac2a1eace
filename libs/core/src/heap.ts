import { setFlagsFromString } from "node:v8";

/**
 * Sets how far V8 lets the old generation grow after a full collection (percent of what
 * survived it) instead of the factor it picks itself, 1.1-4. V8 counts the ArrayBuffers a
 * process allocates against that limit, and Kiln's data paths allocate many, most dying
 * young: with V8's own choice the embedded server ran a full collection on almost every
 * million-row predict (its marking ~40-60 ms of CPU on a ~22 MB heap); at 200 about one
 * in three to six, and the predict ran ~20% faster. V8 reads the flag at each collection,
 * so setting it after start takes effect.
 */
export function applyHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}

import type { StoreDeps } from "./deps.js";
import { VERSIONS, type VersionRecord } from "./records.js";

/**
 * Deletes the given blobs unless a remaining version still uses them (appends and
 * equal content share chunks). A mark over all versions: fine at metadata scale, and
 * never deletes a chunk someone references.
 */
export async function collectGarbage(deps: Pick<StoreDeps, "metadata" | "blobs" | "logger">, candidates: string[]): Promise<number> {
  if (candidates.length === 0) return 0;
  const unreferenced = new Set(candidates);
  const versions = deps.metadata.collection<VersionRecord>(VERSIONS);
  let after: string | undefined;
  for (;;) {
    const rows = await versions.list({ after, limit: 500 });
    for (const row of rows) for (const c of row.value.chunks) unreferenced.delete(c.sha256);
    if (rows.length < 500) break;
    after = rows[rows.length - 1].key;
  }
  let deleted = 0;
  for (const sha of unreferenced) if (await deps.blobs.delete(sha)) deleted++;
  deps.logger.debug({ deleted }, "blobs collected");
  return deleted;
}

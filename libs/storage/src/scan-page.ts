import type { Collection } from "./metadata.js";
import { scanMerged } from "./scan-merged.js";

export interface PageRequest<T> {
  prefix: string;
  pageSize: number;
  pageToken: string;
  /** The filter text the token is bound to (AIP-158), and its compiled predicate. */
  filterText: string;
  matches?: (value: T) => boolean;
  /** Descending key order (e.g. newest first for time-ordered keys). */
  reverse?: boolean;
}

/**
 * One page of a filtered list in key order: scanMerged of one stream. Scans until a page
 * of matches plus one more is seen.
 */
export async function scanPage<T>(collection: Pick<Collection<T>, "list">, req: PageRequest<T>): Promise<{ items: T[]; nextPageToken: string }> {
  const { matches } = req;
  return scanMerged(
    collection,
    { prefixes: [req.prefix], pageSize: req.pageSize, pageToken: req.pageToken, filterText: req.filterText, reverse: req.reverse },
    async (_, rows) => rows.map((row) => (!matches || matches(row.value) ? row.value : undefined)),
    () => 0, // one stream: nothing to merge
  );
}

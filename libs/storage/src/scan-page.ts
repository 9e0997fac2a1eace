import { decodePageToken, encodePageToken, pageSize } from "@kiln/core";
import type { Collection } from "./metadata.js";

const SCAN_BATCH = 200;

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
 * One page of a filtered list in key order. Scans until a page of matches plus one
 * more is seen; the token is the key of the last record on the page.
 */
export async function scanPage<T>(collection: Pick<Collection<T>, "list">, req: PageRequest<T>): Promise<{ items: T[]; nextPageToken: string }> {
  const size = pageSize(req.pageSize);
  let cursor = decodePageToken(req.pageToken, req.filterText);
  const items: T[] = [];
  let more = false;
  scan: for (;;) {
    const rows = await collection.list({ prefix: req.prefix, after: cursor, limit: SCAN_BATCH, reverse: req.reverse });
    for (const row of rows) {
      if (req.matches && !req.matches(row.value)) {
        if (items.length < size) cursor = row.key;
        continue;
      }
      if (items.length === size) {
        more = true;
        break scan;
      }
      items.push(row.value);
      cursor = row.key;
    }
    if (rows.length < SCAN_BATCH) break;
  }
  return { items, nextPageToken: more && cursor ? encodePageToken(cursor, req.filterText) : "" };
}

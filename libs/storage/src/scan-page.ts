import { decodePageToken, encodePageToken, pageSize } from "@kiln/core";
import type { Collection, Stored } from "./metadata.js";

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
  const { matches } = req;
  return scanSelected(collection, req, async (rows) => rows.map((row) => (!matches || matches(row.value) ? row.value : undefined)));
}

/**
 * scanPage where what a page holds is made from the records a stretch at a time, by work
 * that may read more (a run's record for its index entry, a trace's spans): `select`
 * answers, for each record in order, the item it makes, or undefined where it does not match.
 */
export async function scanSelected<T, U>(
  collection: Pick<Collection<T>, "list">,
  req: Omit<PageRequest<T>, "matches">,
  select: (rows: Stored<T>[]) => Promise<(U | undefined)[]>,
): Promise<{ items: U[]; nextPageToken: string }> {
  const size = pageSize(req.pageSize);
  let cursor = decodePageToken(req.pageToken, req.filterText);
  const items: U[] = [];
  let more = false;
  scan: for (;;) {
    const rows = await collection.list({ prefix: req.prefix, after: cursor, limit: SCAN_BATCH, reverse: req.reverse });
    const selected = await select(rows);
    for (const [i, row] of rows.entries()) {
      const item = selected[i];
      if (item === undefined) {
        if (items.length < size) cursor = row.key;
        continue;
      }
      if (items.length === size) {
        more = true;
        break scan;
      }
      items.push(item);
      cursor = row.key;
    }
    if (rows.length < SCAN_BATCH) break;
  }
  return { items, nextPageToken: more && cursor ? encodePageToken(cursor, req.filterText) : "" };
}

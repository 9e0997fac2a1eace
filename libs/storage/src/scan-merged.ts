import { decodePageToken, encodePageToken, invalidArgument, pageSize } from "@kiln/core";
import type { Collection, Stored } from "./metadata.js";

/** Records of a stream read at most at once. */
const MAX_BATCH = 200;
/** In a page token, a stream read to its end (null: nothing read yet; else the key read last). */
const DONE = "";

export interface MergedScanRequest {
  /** The key prefixes of the streams (e.g. one experiment's records each), each read in key order. */
  prefixes: readonly string[];
  pageSize: number;
  pageToken: string;
  /** What the token is bound to: the filter, the order, anything a next page must share. */
  filterText: string;
  /** Descending key order. */
  reverse?: boolean;
}

interface Stream<U> {
  prefix: string;
  /** The key read last. */
  after?: string;
  done: boolean;
  /** Items made and not yet on a page, each with the key read before its record. */
  found: { item: U; before: string | undefined }[];
  batch: number;
}

/**
 * One page of several stretches of a collection merged into one order: each stream (a key
 * prefix) is read in key order, a batch at a time, its records made into items by `select`
 * (undefined where one does not match), and the streams' items merged by `compare`, which
 * must agree with each stream's key order. Reads stop when the page and one more item are
 * found. The page token holds where each stream stands: after the key read last, or, when
 * an item it made did not make the page, before that item's record.
 */
export async function scanMerged<T, U>(
  collection: Pick<Collection<T>, "list">,
  req: MergedScanRequest,
  select: (stream: number, rows: Stored<T>[]) => Promise<(U | undefined)[]>,
  compare: (a: U, b: U) => number,
): Promise<{ items: U[]; nextPageToken: string }> {
  const size = pageSize(req.pageSize);
  const boundTo = `${req.filterText} ${req.reverse ? "desc" : "asc"} ${JSON.stringify(req.prefixes)}`;
  const positions = positionsOf(decodePageToken(req.pageToken, boundTo));
  // A first batch that shares the page among the streams; each next one of a stream twice its last.
  const firstBatch = Math.min(MAX_BATCH, Math.max(8, Math.ceil((size + 1) / Math.max(1, req.prefixes.length))));
  const streams: Stream<U>[] = req.prefixes.map((prefix) => ({ prefix, ...(positions.get(prefix) ?? { done: false }), found: [], batch: firstBatch }));
  const fill = async (s: Stream<U>, index: number) => {
    while (!s.found.length && !s.done) {
      const rows = await collection.list({ prefix: s.prefix, after: s.after, limit: s.batch, reverse: req.reverse });
      const selected = await select(index, rows);
      rows.forEach((row, i) => {
        const item = selected[i];
        if (item !== undefined) s.found.push({ item, before: s.after });
        s.after = row.key;
      });
      s.done = rows.length < s.batch;
      s.batch = Math.min(MAX_BATCH, s.batch * 2);
    }
  };
  const items: U[] = [];
  for (;;) {
    await Promise.all(streams.map(fill));
    let next: Stream<U> | undefined;
    for (const s of streams) if (s.found.length && (!next || compare(s.found[0]!.item, next.found[0]!.item) < 0)) next = s;
    if (!next || items.length === size) {
      if (!next) return { items, nextPageToken: "" };
      const at = Object.fromEntries(streams.map((s) => [s.prefix, s.found.length ? (s.found[0]!.before ?? null) : s.done ? DONE : (s.after ?? null)]));
      return { items, nextPageToken: encodePageToken(JSON.stringify(at), boundTo) };
    }
    items.push(next.found.shift()!.item);
  }
}

/** Where a page token says each stream stands. */
function positionsOf(cursor: string | undefined): Map<string, { after?: string; done: boolean }> {
  const positions = new Map<string, { after?: string; done: boolean }>();
  if (cursor === undefined) return positions;
  let parsed: unknown;
  try {
    parsed = JSON.parse(cursor);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw notIssued();
  for (const [prefix, at] of Object.entries(parsed)) {
    if (at !== null && typeof at !== "string") throw notIssued();
    positions.set(prefix, at === DONE ? { done: true } : { ...(at !== null && { after: at }), done: false });
  }
  return positions;
}

function notIssued() {
  return invalidArgument("INVALID_PAGE_TOKEN", "page_token is not one this server issued");
}

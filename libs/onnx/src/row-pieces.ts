import type { OnnxTensorData, OnnxTensorMap } from "./tensor-data.js";

type NumericData = Exclude<OnnxTensorData["data"], string[]>;

/** The rows every feed has (their common first dimension), if all are numeric tensors that have one. */
export function commonRows(feeds: OnnxTensorMap): number | undefined {
  let rows: number | undefined;
  for (const feed of Object.values(feeds)) {
    if (Array.isArray(feed.data) || feed.dims.length === 0) return undefined;
    if (rows !== undefined && feed.dims[0] !== rows) return undefined;
    rows = feed.dims[0];
  }
  return rows;
}

/** Rows [from, to) of every feed, as views of the feeds' memory (no copy). */
export function sliceRows(feeds: OnnxTensorMap, from: number, to: number): OnnxTensorMap {
  const sliced: OnnxTensorMap = {};
  for (const [name, feed] of Object.entries(feeds)) {
    const width = rowWidth(feed.dims);
    const data = (feed.data as NumericData).subarray(from * width, to * width);
    sliced[name] = { type: feed.type, dims: [to - from, ...feed.dims.slice(1)], data } as OnnxTensorData;
  }
  return sliced;
}

/** Whether every output is a tensor with one row per input row (so pieces of rows can be joined). */
export function keepsRows(outputs: OnnxTensorMap, rows: number): boolean {
  return Object.values(outputs).every((t) => t.dims.length > 0 && t.dims[0] === rows);
}

/**
 * The outputs of runs on consecutive pieces of rows, joined along the rows as one run on
 * all of them would give them; undefined if the pieces' outputs do not line up (names,
 * types or the width of a row differ).
 */
export function joinRows(pieces: OnnxTensorMap[]): OnnxTensorMap | undefined {
  const [first] = pieces;
  if (!first) return undefined;
  const joined: OnnxTensorMap = {};
  for (const [name, head] of Object.entries(first)) {
    const parts = pieces.map((p) => p[name]);
    const width = rowWidth(head.dims);
    const fits = (t: OnnxTensorData | undefined): t is OnnxTensorData =>
      t !== undefined && t.type === head.type && t.dims.length === head.dims.length && rowWidth(t.dims) === width;
    if (!parts.every(fits)) return undefined;
    const rows = parts.reduce((n, t) => n + t.dims[0]!, 0);
    const dims = [rows, ...head.dims.slice(1)];
    if (Array.isArray(head.data)) {
      joined[name] = { type: head.type, dims, data: parts.flatMap((t) => t.data as string[]) } as OnnxTensorData;
      continue;
    }
    const data = new ((head.data as NumericData).constructor as new (length: number) => NumericData)(rows * width);
    let at = 0;
    for (const part of parts) {
      data.set(part.data as never, at);
      at += (part.data as NumericData).length;
    }
    joined[name] = { type: head.type, dims, data } as OnnxTensorData;
  }
  return joined;
}

/** Values in one row of a tensor of these dims (1 for a vector or a scalar). */
export function rowWidth(dims: readonly number[]): number {
  return dims.slice(1).reduce((a, b) => a * b, 1);
}

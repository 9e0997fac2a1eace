import type { Tensor } from "onnxruntime-node";
import { isColumnsFeed, matrixFromColumns, type OnnxFeeds } from "./columns-feed.js";

export type OnnxTensorType = Tensor.Type;

/** A tensor as a plain object, so it can cross a worker boundary by structured clone or transfer. */
export type OnnxTensorData = {
  [T in OnnxTensorType]: { type: T; dims: number[]; data: Tensor.DataTypeMap[T] };
}[OnnxTensorType];

export type OnnxTensorMap = Record<string, OnnxTensorData>;

/** A typed array copied into memory of its own: a Node Buffer's slice() is a view of the same memory. */
export function copyOf<T extends ArrayBufferView>(array: T): T {
  return (TYPED_ARRAY_SLICE as (this: T) => T).call(array);
}
const TYPED_ARRAY_SLICE = (Object.getPrototypeOf(Uint8Array.prototype) as { slice: (...a: unknown[]) => unknown }).slice;

/** The shared memory a tensor's data lives in, if it does: such data crosses to a worker without a copy. */
export function sharedBufferOf(data: OnnxTensorData["data"]): SharedArrayBuffer | undefined {
  return !Array.isArray(data) && data.buffer instanceof SharedArrayBuffer ? data.buffer : undefined;
}

/**
 * Copies each tensor into a buffer of its own and lists those buffers for transfer: the caller's
 * arrays stay usable, and a view into a large buffer does not drag the whole buffer across.
 * Tensors in shared memory, and matrices given as columns all in shared memory, go as they
 * are; other matrices given as columns are laid out here.
 */
export function packForTransfer(feeds: OnnxFeeds): { tensors: OnnxFeeds; transfer: ArrayBuffer[] } {
  const packed: OnnxFeeds = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, feed] of Object.entries(feeds)) {
    if (isColumnsFeed(feed) ? feed.columns.every((c) => sharedBufferOf(c)) : sharedBufferOf(feed.data)) {
      packed[name] = feed;
      continue;
    }
    const t = isColumnsFeed(feed) ? matrixFromColumns(feed) : feed;
    const data = Array.isArray(t.data) ? [...t.data] : t === feed ? copyOf(t.data) : t.data;
    if (!Array.isArray(data)) transfer.push(data.buffer as ArrayBuffer);
    packed[name] = { type: t.type, dims: [...t.dims], data } as OnnxTensorData;
  }
  return { tensors: packed, transfer };
}

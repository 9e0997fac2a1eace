import type { ProgressListener } from "./transfer.js";

/** Chunks stay well under the server's 16 MiB message limit. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

export async function* slices(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** Regroups arbitrary pieces into chunks of about `size` bytes. */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let length = 0;
  for await (const piece of source) {
    parts.push(piece);
    length += piece.length;
    if (length >= size) {
      yield concat(parts, length);
      parts = [];
      length = 0;
    }
  }
  if (length > 0) yield concat(parts, length);
}

/** Reports the bytes that have gone through, after each chunk. */
export async function* counted(source: AsyncIterable<Uint8Array>, onProgress?: ProgressListener, totalBytes?: number): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  for await (const chunk of source) {
    yield chunk;
    bytes += chunk.length;
    onProgress?.({ bytes, totalBytes });
  }
}

export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const c of chunks) {
    parts.push(c);
    length += c.length;
  }
  return concat(parts, length);
}

export function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

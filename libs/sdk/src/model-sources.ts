import { CHUNK_BYTES, rechunk, slices } from "./byte-sources.js";

/** A model file or attachment: bytes, a file path (Node), or a stream of bytes. */
export type ModelSource = Uint8Array | string | AsyncIterable<Uint8Array>;

export interface OpenedSource {
  chunks: AsyncIterable<Uint8Array>;
  /** When known up front. */
  size?: number;
  /** Takes back a chunk whose upload is over, to read later ones into (files). */
  recycle?(chunk: Uint8Array): void;
}

/** The source as CHUNK_BYTES-sized chunks; files are streamed from disk. */
export async function openSource(source: ModelSource): Promise<OpenedSource> {
  if (source instanceof Uint8Array) return { chunks: slices(source, CHUNK_BYTES), size: source.length };
  if (typeof source === "string") {
    return (await nodeFiles()).openFile(source, CHUNK_BYTES);
  }
  return { chunks: rechunk(source, CHUNK_BYTES) };
}

/** The Node-only file helpers, loaded on first use so browsers never load `node:` modules. */
export async function nodeFiles(): Promise<typeof import("./node-files.js")> {
  const files = await import("./node-files.js");
  if (typeof files.openFile !== "function") throw new TypeError("file paths work in Node only: pass the bytes instead");
  return files;
}

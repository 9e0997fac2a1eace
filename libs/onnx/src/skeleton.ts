import { open, stat, writeFile, type FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { OnnxFormatError } from "./errors.js";

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const DATA_LOCATION_EXTERNAL = 1;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Weights smaller than this stay inline in the skeleton. */
const MIN_EXTERNAL_BYTES = 4096;
const BLOCK_BYTES = 1 << 20;

/**
 * Writes a "skeleton" of an ONNX file: the same model, with the raw bytes of its large
 * weights left out and pointed to in the original file as ONNX external data.
 * onnxruntime loads a skeleton as it would the model (every op, type, shape and weight
 * size is checked) but maps the weights instead of parsing and copying them, so checking
 * a 100 MB model takes milliseconds, and the file is read only where it is not weights.
 * The skeleton must sit in the model's folder: onnxruntime resolves external data there.
 */
export async function writeOnnxSkeleton(modelPath: string, skeletonPath: string): Promise<Uint8Array> {
  return withSkeletonReader([modelPath], (file) => skeletonOf(file, basename(modelPath), skeletonPath));
}

/**
 * A skeleton of a model stored as consecutive part files (a registry's chunks), read in
 * place. Its external weights point into `weightsPath`, a sparse file as long as the
 * model: onnxruntime checks every weight's length against its shape but never its
 * values, so loading this skeleton checks what loading the model would, and the weights
 * are neither copied into one file nor read. `weightsPath` must sit beside the skeleton.
 */
export async function writeOnnxSkeletonOfParts(parts: string[], skeletonPath: string, weightsPath: string): Promise<Uint8Array> {
  return withSkeletonReader(parts, async (file) => {
    const skeleton = await skeletonOf(file, basename(weightsPath), skeletonPath);
    const weights = await open(weightsPath, "w");
    try {
      await weights.truncate(file.size);
    } finally {
      await weights.close();
    }
    return skeleton;
  });
}

async function withSkeletonReader(parts: string[], write: (file: BlockReader) => Promise<Uint8Array>): Promise<Uint8Array> {
  const sizes = await Promise.all(parts.map(async (p) => (await stat(p)).size));
  const file = new BlockReader(parts, sizes);
  try {
    return await write(file);
  } finally {
    await file.close();
  }
}

async function skeletonOf(file: BlockReader, location: string, skeletonPath: string): Promise<Uint8Array> {
  const skeleton = concat(await rewriteMessage(file, 0, file.size, modelField(location)));
  await writeFile(skeletonPath, skeleton);
  return skeleton;
}

/** Rewrites one field of a message, or returns undefined to copy it unchanged. */
type FieldRewriter = (file: BlockReader, field: FieldSpan) => Promise<Uint8Array[] | undefined>;

interface FieldSpan {
  number: number;
  wireType: number;
  /** Where the field's tag starts. */
  start: number;
  /** For LEN fields, where the payload starts and ends; otherwise the field's end. */
  payloadStart: number;
  end: number;
}

function modelField(location: string): FieldRewriter {
  const graph = graphField(location);
  return async (file, field) => {
    if (field.number !== MODEL_GRAPH || field.wireType !== WIRE_LEN) return undefined;
    return lengthDelimited(field.number, await rewriteMessage(file, field.payloadStart, field.end, graph));
  };
}

function graphField(location: string): FieldRewriter {
  return async (file, field) => {
    if (field.number !== GRAPH_INITIALIZER || field.wireType !== WIRE_LEN) return undefined;
    return lengthDelimited(field.number, await rewriteTensor(file, field, location));
  };
}

async function rewriteTensor(file: BlockReader, tensor: FieldSpan, location: string): Promise<Uint8Array[]> {
  let weights: FieldSpan | undefined;
  const parts = await rewriteMessage(file, tensor.payloadStart, tensor.end, async (f, field) => {
    if (field.number === TENSOR_DATA_LOCATION && field.wireType === WIRE_VARINT) {
      const { value } = await readVarint(f, field.payloadStart);
      if (value === DATA_LOCATION_EXTERNAL) {
        throw new OnnxFormatError("the model keeps weights in external data files; upload a single self-contained .onnx file");
      }
    }
    if (field.number !== TENSOR_RAW_DATA || field.wireType !== WIRE_LEN) return undefined;
    if (field.end - field.payloadStart < MIN_EXTERNAL_BYTES) return undefined;
    weights = field;
    return [];
  });
  if (!weights) return parts;
  const entry = (key: string, value: string) =>
    lengthDelimited(TENSOR_EXTERNAL_DATA, [...lengthDelimited(1, [utf8(key)]), ...lengthDelimited(2, [utf8(value)])]);
  parts.push(
    ...entry("location", location),
    ...entry("offset", String(weights.payloadStart)),
    ...entry("length", String(weights.end - weights.payloadStart)),
    varintField(TENSOR_DATA_LOCATION, DATA_LOCATION_EXTERNAL),
  );
  return parts;
}

/** Walks the fields of the message in [start, end), copying each unless `rewrite` replaces it. */
async function rewriteMessage(file: BlockReader, start: number, end: number, rewrite: FieldRewriter): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  let at = start;
  while (at < end) {
    const field = await readField(file, at, end);
    const replaced = await rewrite(file, field);
    parts.push(...(replaced ?? [await file.read(field.start, field.end - field.start)]));
    at = field.end;
  }
  return parts;
}

async function readField(file: BlockReader, at: number, limit: number): Promise<FieldSpan> {
  const tag = await readVarint(file, at);
  const number = Math.floor(tag.value / 8);
  const wireType = tag.value % 8;
  if (number === 0) throw broken(at);
  let payloadStart = tag.next;
  let end: number;
  switch (wireType) {
    case WIRE_VARINT:
      end = (await readVarint(file, payloadStart)).next;
      break;
    case WIRE_I64:
      end = payloadStart + 8;
      break;
    case WIRE_I32:
      end = payloadStart + 4;
      break;
    case WIRE_LEN: {
      const length = await readVarint(file, payloadStart);
      payloadStart = length.next;
      end = payloadStart + length.value;
      break;
    }
    default:
      throw broken(at);
  }
  if (end > limit) throw broken(at);
  return { number, wireType, start: at, payloadStart, end };
}

async function readVarint(file: BlockReader, at: number): Promise<{ value: number; next: number }> {
  const bytes = await file.read(at, Math.min(10, file.size - at));
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    value += (bytes[i]! & 0x7f) * 2 ** (7 * i);
    if ((bytes[i]! & 0x80) === 0) {
      if (value > Number.MAX_SAFE_INTEGER) throw broken(at);
      return { value, next: at + i + 1 };
    }
  }
  throw broken(at);
}

function broken(at: number): OnnxFormatError {
  return new OnnxFormatError(`not an ONNX model: protobuf decoding failed at byte ${at}`);
}

function lengthDelimited(number: number, payload: Uint8Array[]): Uint8Array[] {
  const length = payload.reduce((sum, p) => sum + p.length, 0);
  return [varint(number * 8 + WIRE_LEN), varint(length), ...payload];
}

function varintField(number: number, value: number): Uint8Array {
  return concat([varint(number * 8 + WIRE_VARINT), varint(value)]);
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Uint8Array.from(out);
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/**
 * Positional reads, across part files laid end to end, through a small block cache:
 * fields are read where they lie, weights skipped.
 */
class BlockReader {
  readonly size: number;
  /** Where each part starts in the whole. */
  private readonly starts: number[] = [];
  private block: Uint8Array = new Uint8Array(0);
  private blockStart = 0;

  /** The part read last, kept open: a model's fields are read mostly in order. */
  private open: { index: number; handle: FileHandle } | undefined;

  constructor(
    private readonly parts: string[],
    private readonly sizes: number[],
  ) {
    let at = 0;
    for (const size of sizes) {
      this.starts.push(at);
      at += size;
    }
    this.size = at;
  }

  async read(at: number, length: number): Promise<Uint8Array> {
    if (at < 0 || at + length > this.size) throw broken(at);
    if (length > BLOCK_BYTES) return this.readDirect(at, length);
    if (at < this.blockStart || at + length > this.blockStart + this.block.length) {
      this.blockStart = at;
      this.block = await this.readDirect(at, Math.min(BLOCK_BYTES, this.size - at));
    }
    return this.block.subarray(at - this.blockStart, at - this.blockStart + length);
  }

  private async readDirect(at: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    let part = this.partAt(at);
    while (done < length) {
      const position = at + done - this.starts[part]!;
      if (position >= this.sizes[part]!) {
        part++;
        continue;
      }
      const want = Math.min(length - done, this.sizes[part]! - position);
      const { bytesRead } = await (await this.handleOf(part)).read(buffer, done, want, position);
      if (bytesRead === 0) throw broken(at + done); // the part shrank since it was measured
      done += bytesRead;
    }
    return buffer;
  }

  /** One part open at a time: a 2 GB model has 512 chunk files. */
  private async handleOf(part: number): Promise<FileHandle> {
    if (this.open?.index === part) return this.open.handle;
    await this.close();
    this.open = { index: part, handle: await open(this.parts[part]!, "r") };
    return this.open.handle;
  }

  async close(): Promise<void> {
    const handle = this.open?.handle;
    this.open = undefined;
    await handle?.close();
  }

  /** The last part starting at or before `at` (binary search). */
  private partAt(at: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

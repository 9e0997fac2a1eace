import type { RecordBatch } from "apache-arrow";
import { DataFormatError } from "./errors.js";
import { parseJsonExact } from "./json-exact.js";
import { RowBatcher, type JsonTableOptions } from "./ndjson.js";

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * A JSON array of row objects into record batches, read as it streams in: the bytes are
 * scanned for the array's top-level commas (outside strings, at depth one), and each run
 * of whole elements is parsed with one JSON.parse, so memory holds a batch of rows, not the
 * file. UTF-8 never puts these ASCII bytes inside a multi-byte character.
 */
export async function* parseJsonArray(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: JsonTableOptions = {}): AsyncGenerator<RecordBatch> {
  const batchRows = options.batchRows ?? 65_536;
  const batcher = new RowBatcher(options.schema);
  const decoder = new TextDecoder();
  let carry: Uint8Array = new Uint8Array(0);
  let state: "before" | "inside" | "after" = "before";
  let depth = 0;
  let inString = false;
  let escaped = false;
  let elements = 0;

  const take = (text: string) => {
    if (!text.trim()) return; // an empty array, or nothing between two cuts
    let values: unknown[];
    try {
      values = parseJsonExact(`[${text}]`) as unknown[];
    } catch (e) {
      throw new DataFormatError(`JSON array, after element ${elements}: ${(e as Error).message}`);
    }
    for (const value of values) {
      elements++;
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DataFormatError(`JSON array element ${elements} is not a row object`);
      batcher.rows.push(value as Record<string, unknown>);
    }
  };

  for await (const fresh of source) {
    // The carry holds the text of elements not parsed yet, already scanned (the scanner's state is past it).
    const start = carry.length;
    const bytes = start ? concat(carry, fresh) : fresh;
    let from = 0;
    /** The last top-level comma: every element before it is whole. */
    let cut = -1;
    for (let i = start; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (state !== "inside") {
        if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
        if (state === "before" && (b === 0xef || b === 0xbb || b === 0xbf)) continue; // a UTF-8 byte order mark
        if (state === "before" && b === OPEN_BRACKET) {
          state = "inside";
          from = i + 1;
          continue;
        }
        throw new DataFormatError(state === "before" ? "a .json table file holds an array of row objects" : "text after the end of the JSON array");
      }
      if (inString) {
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) inString = false;
        continue;
      }
      if (b === QUOTE) inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
      else if (b === CLOSE_BRACE) depth--;
      else if (b === CLOSE_BRACKET && depth > 0) depth--;
      else if (b === CLOSE_BRACKET) {
        take(decoder.decode(bytes.subarray(from, i)));
        state = "after";
        cut = -1;
      } else if (b === COMMA && depth === 0) cut = i;
    }
    if (state !== "inside") carry = new Uint8Array(0);
    else if (cut >= from) {
      take(decoder.decode(bytes.subarray(from, cut)));
      carry = bytes.slice(cut + 1);
    } else carry = bytes.slice(from);
    if (batcher.rows.length >= batchRows) yield* batcher.flush();
  }
  if (state !== "after") throw new DataFormatError(state === "before" ? "a .json table file holds an array of row objects" : "the JSON array ends early (no closing ])");
  yield* batcher.flush();
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

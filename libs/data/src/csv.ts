import { Bool, DataType, Field, Float64, Int64, RecordBatch, Schema, Struct, TimestampMillisecond, Utf8, makeData, vectorFromArray, type Data, type Int } from "apache-arrow";
import { DataFormatError } from "./errors.js";
import { parseTimestamp, textValue } from "./rows.js";

export interface CsvOptions {
  delimiter?: string;
  /** Whether the first line names the columns (default true). */
  header?: boolean;
  /** Rows per record batch (default 65,536); types are inferred from the first batch. */
  batchRows?: number;
  /**
   * Types of columns by name, instead of inferring them (e.g. those of the dataset a file
   * is appended to): integers, floats, booleans, timestamps, dates and text; a column of
   * another type here is inferred.
   */
  types?: Map<string, DataType>;
  /** Where `types` come from, for errors (e.g. "dataset sales"). */
  typesFrom?: string;
}

type TextSource = string | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

const INT = /^[-+]?\d{1,19}$/;
const DIGITS = /^[-+]?\d+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|infinity|nan)$/i;
const BOOL = /^(true|false)$/i;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** RFC 4180 records, streamed: quoted fields may hold delimiters, quotes ("") and newlines. */
export async function* parseCsvRecords(source: TextSource, delimiter = ","): AsyncGenerator<string[]> {
  const decoder = new TextDecoder();
  let field = "";
  let record: string[] = [];
  let quoted = false;
  let afterQuote = false;
  let pendingCR = false;
  for await (const piece of typeof source === "string" ? [source] : source) {
    const text = typeof piece === "string" ? piece : decoder.decode(piece, { stream: true });
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"') {
          field += text.slice(start, i);
          start = i + 1;
          quoted = false;
          afterQuote = true;
        }
        continue;
      }
      if (pendingCR) {
        pendingCR = false;
        if (c === "\n") {
          start = i + 1;
          continue;
        }
      }
      if (c === '"') {
        if (afterQuote) field += '"'; // "" inside a quoted field
        else field += text.slice(start, i);
        start = i + 1;
        quoted = true;
        afterQuote = false;
      } else if (c === delimiter) {
        record.push(field + text.slice(start, i));
        field = "";
        start = i + 1;
        afterQuote = false;
      } else if (c === "\n" || c === "\r") {
        record.push(field + text.slice(start, i));
        field = "";
        start = i + 1;
        afterQuote = false;
        pendingCR = c === "\r";
        if (!(record.length === 1 && record[0] === "")) yield record;
        record = [];
      } else {
        afterQuote = false;
      }
    }
    field += text.slice(start);
  }
  if (quoted) throw new DataFormatError("the CSV ends inside a quoted field");
  if (field !== "" || record.length) {
    record.push(field);
    yield record;
  }
}

/** CSV into record batches with inferred column types (Int64, Float64, Bool, Timestamp, Utf8), or given ones; empty cells are nulls. */
export async function* parseCsv(source: TextSource, options: CsvOptions = {}): AsyncGenerator<RecordBatch> {
  const batchRows = options.batchRows ?? 65_536;
  let names: string[] | undefined;
  let schema: Schema | undefined;
  let rows: string[][] = [];
  let line = 0;
  const flush = () => {
    schema ??= inferSchema(names!, rows, options.types);
    const batch = toBatch(schema, rows, line - rows.length, options);
    rows = [];
    return batch;
  };
  for await (const record of parseCsvRecords(source, options.delimiter ?? ",")) {
    if (!names) {
      names = options.header === false ? record.map((_, i) => `column_${i + 1}`) : uniqueNames(record);
      if (options.header !== false) continue;
    }
    line++;
    if (record.length !== names.length) {
      throw new DataFormatError(`CSV row ${line} has ${record.length} fields, the header has ${names.length}`);
    }
    rows.push(record);
    if (rows.length === batchRows) yield flush();
  }
  if (rows.length || (names && !schema)) yield flush();
}

function uniqueNames(header: string[]): string[] {
  const seen = new Map<string, number>();
  return header.map((raw, i) => {
    const name = raw.trim() || `column_${i + 1}`;
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    return n ? `${name}_${n + 1}` : name;
  });
}

function inferSchema(names: string[], rows: string[][], given?: Map<string, DataType>): Schema {
  return new Schema(
    names.map((name, c) => {
      const known = given?.get(name);
      if (known && PARSEABLE.some((is) => is(known))) return new Field(name, known, true);
      let type: DataType | undefined;
      const cells = rows.map((r) => r[c]).filter((v) => v !== "");
      if (cells.length === 0) type = new Utf8();
      else if (cells.every(isInt64)) type = new Int64();
      else if (cells.every((v) => DIGITS.test(v))) type = new Utf8(); // whole numbers past Int64 (ids): their text, not a rounded double
      else if (cells.every((v) => FLOAT.test(v))) type = new Float64();
      else if (cells.every((v) => BOOL.test(v))) type = new Bool();
      else if (cells.every((v) => TIMESTAMP.test(v))) type = new TimestampMillisecond();
      else type = new Utf8();
      return new Field(name, type, true);
    }),
  );
}

function toBatch(schema: Schema, rows: string[][], firstLine: number, options: CsvOptions): RecordBatch {
  const children: Data[] = schema.fields.map((f, c) => {
    const parse = cellParser(f.type);
    const origin = options.types?.get(f.name) === f.type ? `as the column is in ${options.typesFrom ?? "the types given"}` : "types come from the first rows";
    const values = rows.map((r, i) => {
      const cell = r[c];
      if (cell === "") return null;
      const v = parse(cell);
      if (v === undefined) {
        throw new DataFormatError(`CSV row ${firstLine + i + 1}, column "${f.name}": "${cell.slice(0, 40)}" is not ${f.type} (${origin})`);
      }
      return v;
    });
    return vectorFromArray(values, f.type).data[0];
  });
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, children, nullCount: 0 }));
}

/** A whole number an Int64 holds exactly (an id of 19 digits too; a double would round it past 2^53). */
function isInt64(cell: string): boolean {
  if (!INT.test(cell)) return false;
  if (cell.replace(/^[-+]/, "").length < 19) return true;
  const n = BigInt(cell);
  return n >= INT64_MIN && n <= INT64_MAX;
}

/** The column types cells can be parsed into. */
const PARSEABLE = [DataType.isInt, DataType.isFloat, DataType.isBool, DataType.isTimestamp, DataType.isDate, DataType.isUtf8, DataType.isLargeUtf8];

function cellParser(type: DataType): (cell: string) => unknown {
  if (DataType.isInt(type)) {
    const { bitWidth, isSigned } = type as Int;
    if (bitWidth === 64) return (s) => (isInt64(s) && (isSigned || !s.startsWith("-")) ? BigInt(s) : undefined);
    const [min, max] = isSigned ? [-(2 ** (bitWidth - 1)), 2 ** (bitWidth - 1) - 1] : [0, 2 ** bitWidth - 1];
    return (s) => (INT.test(s) && Number(s) >= min && Number(s) <= max ? Number(s) : undefined);
  }
  if (DataType.isFloat(type)) return (s) => (FLOAT.test(s) ? parseFloatCell(s) : undefined);
  if (DataType.isBool(type)) return (s) => (BOOL.test(s) ? s.toLowerCase() === "true" : undefined);
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return (s) => (TIMESTAMP.test(s) ? parseTimestamp(s) : undefined);
  return (s) => s;
}

function parseFloatCell(s: string): number {
  const lower = s.toLowerCase().replace(/^\+/, "");
  if (lower === "inf" || lower === "infinity") return Infinity;
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  if (lower === "nan") return NaN;
  return Number(s);
}

/** Batches as CSV text: a header line, then rows; RFC 4180 quoting; nulls as empty cells. */
export async function* tableToCsv(batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>, options: { delimiter?: string } = {}): AsyncGenerator<string> {
  const d = options.delimiter ?? ",";
  const quote = (s: string) => (s.includes(d) || s.includes('"') || s.includes("\n") || s.includes("\r") ? `"${s.replaceAll('"', '""')}"` : s);
  let headerDone = false;
  for await (const batch of batches) {
    const fields = batch.schema.fields;
    if (!headerDone) {
      yield fields.map((f) => quote(f.name)).join(d) + "\n";
      headerDone = true;
    }
    const vectors = fields.map((f) => batch.getChild(f.name)!);
    const lines: string[] = [];
    for (let i = 0; i < batch.numRows; i++) {
      lines.push(fields.map((f, c) => cellText(textValue(vectors[c].get(i), f.type), quote)).join(d));
    }
    if (lines.length) yield lines.join("\n") + "\n";
  }
}

function cellText(v: unknown, quote: (s: string) => string): string {
  if (v === null || v === undefined) return "";
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object") return quote(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)));
  return quote(String(v));
}

import { Dictionary, Field, Float64, Int32, RecordBatch, Schema, Struct, Table, TimestampMillisecond, Utf8, makeData, vectorFromArray } from "apache-arrow";
import { EVENT_VALUE_TYPES, type DictionaryColumn, type EventPage } from "@kiln/storage";

/**
 * A page of events as an Arrow table: experiment, run, event, dt, node, step, key, value,
 * value_text, value_type. The string columns repeat a few values, so they are
 * dictionary-encoded, as the page already holds them; the numeric columns are the
 * page's own arrays.
 */
export function eventsTable(experiment: string, page: EventPage): Table {
  const n = page.length;
  const columns = {
    experiment: dictionary(0, { values: [experiment], indices: new Int32Array(n) }),
    run: makeData({ type: new Int32(), length: n, data: page.run }),
    event: dictionary(1, page.event),
    dt: makeData({ type: new TimestampMillisecond(), length: n, data: epochMillis(page.dt) }),
    node: dictionary(2, page.node),
    step: makeData({ type: new Int32(), length: n, data: page.step }),
    key: dictionary(3, page.key),
    value: makeData({ type: new Float64(), length: n, data: page.number, nullBitmap: numberValidity(page.valueType) }),
    value_text: textColumn(page.text),
    value_type: dictionary(4, valueTypeNames(page.valueType)),
  };
  // One fixed schema (dictionary ids, nullability) for every page, so pages concatenate.
  const fields = Object.entries(columns).map(([name, data]) => new Field(name, data.type, true));
  const schema = new Schema(fields);
  return new Table(schema, new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children: Object.values(columns) })));
}

function dictionary(id: number, column: DictionaryColumn) {
  const values = vectorFromArray(column.values, new Utf8());
  return makeData({ type: new Dictionary(new Utf8(), new Int32(), id), length: column.indices.length, data: column.indices, dictionary: values });
}

function epochMillis(dt: Float64Array): BigInt64Array {
  const ms = new BigInt64Array(dt.length);
  for (let i = 0; i < dt.length; i++) ms[i] = BigInt(Math.round(dt[i]!));
  return ms;
}

function numberValidity(valueType: Uint8Array): Uint8Array {
  const valid = new Uint8Array(Math.ceil(valueType.length / 8));
  for (let i = 0; i < valueType.length; i++) if (EVENT_VALUE_TYPES[valueType[i]!] === "number") valid[i >> 3]! |= 1 << (i & 7);
  return valid;
}

function textColumn(text: (string | null)[]) {
  const n = text.length;
  if (text.some((t) => t !== null)) return vectorFromArray(text, new Utf8()).data[0]!;
  return makeData({ type: new Utf8(), length: n, nullCount: n, valueOffsets: new Int32Array(n + 1), data: new Uint8Array(0), nullBitmap: new Uint8Array(Math.ceil(n / 8)) });
}

/** The value type names, dictionary-encoded in order of first appearance (as every other string column). */
function valueTypeNames(valueType: Uint8Array): DictionaryColumn {
  const slots = new Int32Array(EVENT_VALUE_TYPES.length).fill(-1);
  const values: string[] = [];
  const indices = new Int32Array(valueType.length);
  for (let i = 0; i < valueType.length; i++) {
    const type = valueType[i]!;
    if (slots[type] === -1) {
      slots[type] = values.length;
      values.push(EVENT_VALUE_TYPES[type]!);
    }
    indices[i] = slots[type]!;
  }
  return { values, indices };
}

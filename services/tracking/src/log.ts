import { timestampMs } from "@bufbuild/protobuf/wkt";
import { invalidArgument, resourceExhausted } from "@kiln/core";
import { float64sFrom } from "@kiln/proto";
import type { Event, EventColumns, LogEventsRequest } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { EventBatch, TrackedEvent } from "@kiln/storage";
import { LIMITS, type TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { parseRunName } from "./names.js";
import { getRun } from "./runs.js";

const INT32_MAX = 2 ** 31 - 1;

/** A LogEvents stream: each message is one batch for one run, stored as one transaction. */
export async function logEvents(deps: TrackingDeps, requests: AsyncIterable<LogEventsRequest>): Promise<{ accepted: bigint; duplicates: bigint }> {
  let accepted = 0;
  let duplicates = 0;
  const known = new Set<string>();
  for await (const req of requests) {
    const { experiment, run } = parseRunName(req.run);
    if (!known.has(req.run)) {
      await getRun(deps, experiment, run);
      known.add(req.run);
    }
    if (req.events.length > LIMITS.eventsPerRequest) {
      throw resourceExhausted("TOO_MANY_EVENTS", `a message carries at most ${LIMITS.eventsPerRequest} events; got ${req.events.length}`);
    }
    const now = nowOf(deps).getTime();
    if (req.events.length) {
      const result = await deps.events.append(req.events.map((e) => toTracked(e, experiment, run, now)));
      accepted += result.accepted;
      duplicates += result.duplicates;
    }
    if (req.columns && req.columns.event.length) {
      const result = await deps.events.appendBatch(checkedBatch(req.batchId, req.columns, experiment, run));
      accepted += result.accepted;
      duplicates += result.duplicates;
    }
  }
  return { accepted: BigInt(accepted), duplicates: BigInt(duplicates) };
}

/** One event, checked against the documented limits, as the event store keeps it. */
export function toTracked(e: Event, experiment: string, run: number, now: number): TrackedEvent {
  if (!e.id || e.id.length > LIMITS.idChars) throw invalidArgument("INVALID_EVENT_ID", `every event needs an id of 1 to ${LIMITS.idChars} characters`);
  if (!e.event || e.event.length > LIMITS.eventChars) throw invalidArgument("INVALID_EVENT", `event names are 1 to ${LIMITS.eventChars} characters (got "${e.event.slice(0, 80)}")`);
  if (e.key.length > LIMITS.keyChars) throw invalidArgument("KEY_TOO_LONG", `keys are at most ${LIMITS.keyChars} characters; "${e.key.slice(0, 40)}…" has ${e.key.length}`);
  if (e.node.length > LIMITS.nodeChars) throw invalidArgument("NODE_TOO_LONG", `node names are at most ${LIMITS.nodeChars} characters`);
  const step = Number(e.step);
  if (!Number.isSafeInteger(step) || step < 0 || step > INT32_MAX) throw invalidArgument("INVALID_STEP", `step must be from 0 to ${INT32_MAX}, got ${e.step}`);
  const tracked: TrackedEvent = { id: e.id, experiment, run, event: e.event, dt: e.dt ? timestampMs(e.dt) : now, node: e.node, step, key: e.key, valueType: "none" };
  const text = (valueType: TrackedEvent["valueType"], value: string) => {
    const bytes = Buffer.byteLength(value);
    if (bytes > LIMITS.valueBytes) {
      throw resourceExhausted("VALUE_TOO_LARGE", `the value of "${e.key}" is ${bytes} bytes; values are at most ${LIMITS.valueBytes} bytes (log files as artifacts)`);
    }
    tracked.valueType = valueType;
    tracked.text = value;
  };
  switch (e.value.case) {
    case "number":
      tracked.valueType = "number";
      tracked.number = e.value.value;
      break;
    case "text":
      text("text", e.value.value);
      break;
    case "json":
      try {
        JSON.parse(e.value.value);
      } catch {
        throw invalidArgument("INVALID_JSON", `the value of "${e.key}" is not valid JSON`);
      }
      text("json", e.value.value);
      break;
    case "artifact": {
      const a = e.value.value;
      const chunks = a.chunks.map((c) => ({ sha256: c.sha256, size: Number(c.size) }));
      if (chunks.length) checkChunks(e.key, a.kind, a.ref, Number(a.size), chunks);
      text("artifact", JSON.stringify({ kind: a.kind, ref: a.ref, name: a.name, size: Number(a.size), mediaType: a.mediaType, ...(chunks.length ? { chunks } : {}) }));
      break;
    }
  }
  return tracked;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** A file artifact's pieces: blobs by sha256, sizes that add up to the file's. */
function checkChunks(key: string, kind: string, ref: string, size: number, chunks: { sha256: string; size: number }[]): void {
  const bad = (why: string) => invalidArgument("INVALID_ARTIFACT", `artifact "${key}": ${why}`);
  if (kind !== "file") throw bad(`only a file artifact has chunks, not a ${kind || "kindless"} one`);
  if (!SHA256.test(ref)) throw bad("the ref of a file in chunks is the whole file's sha256 (64 lowercase hex digits)");
  for (const c of chunks) {
    if (!SHA256.test(c.sha256)) throw bad(`chunk "${c.sha256.slice(0, 80)}" is not a sha256 (64 lowercase hex digits)`);
    if (!Number.isSafeInteger(c.size) || c.size <= 0) throw bad(`chunk ${c.sha256} has a size of ${c.size}`);
  }
  const total = chunks.reduce((sum, c) => sum + c.size, 0);
  if (total !== size) throw bad(`its chunks hold ${total} bytes and its size says ${size}`);
}

/** A columnar batch, checked against the same limits as single events. */
export function checkedBatch(batchId: string, c: EventColumns, experiment: string, run: number): EventBatch {
  if (!batchId || batchId.length > LIMITS.idChars) throw invalidArgument("INVALID_BATCH_ID", `a batch of columns needs a batch_id of 1 to ${LIMITS.idChars} characters`);
  const n = c.event.length;
  if (n > LIMITS.eventsPerRequest) throw resourceExhausted("TOO_MANY_EVENTS", `a message carries at most ${LIMITS.eventsPerRequest} events; got ${n}`);
  const dt = c.dtF64.length ? doubles(c.dtF64, "dt_f64", n) : c.dt;
  const number = c.numberF64.length ? doubles(c.numberF64, "number_f64", n) : c.number;
  for (const column of [c.key, c.node, c.step, dt, c.valueType, number]) {
    if (column.length !== n) throw invalidArgument("RAGGED_COLUMNS", `every column of a batch has one entry per event (${n})`);
  }
  const strings = c.strings;
  for (const s of strings) if (s.length > LIMITS.keyChars) throw invalidArgument("KEY_TOO_LONG", `keys, events and nodes are at most ${LIMITS.keyChars} characters; "${s.slice(0, 40)}…" has ${s.length}`);
  let texts = 0;
  for (let i = 0; i < n; i++) {
    const at = [c.event[i]!, c.key[i]!, c.node[i]!];
    if (at.some((x) => x < 0 || x >= strings.length)) throw invalidArgument("BAD_STRING_INDEX", `event ${i} points past the batch's strings`);
    if (!strings[c.event[i]!]) throw invalidArgument("INVALID_EVENT", `event ${i} has no event name`);
    const step = c.step[i]!;
    if (!Number.isInteger(step) || step < 0) throw invalidArgument("INVALID_STEP", `step must be from 0 to ${INT32_MAX}, got ${step}`);
    const type = c.valueType[i]!;
    if (type < 0 || type > 3) throw invalidArgument("INVALID_VALUE_TYPE", `value_type is 0 to 3, got ${type}`);
    if (type >= 2) texts++;
  }
  if (texts !== c.text.length) throw invalidArgument("RAGGED_COLUMNS", `${texts} events have text values but the batch carries ${c.text.length}`);
  for (const t of c.text) {
    const bytes = Buffer.byteLength(t);
    if (bytes > LIMITS.valueBytes) throw resourceExhausted("VALUE_TOO_LARGE", `a value is ${bytes} bytes; values are at most ${LIMITS.valueBytes} bytes (log files as artifacts)`);
  }
  return { batchId, experiment, run, strings, event: c.event, key: c.key, node: c.node, step: c.step, dt, valueType: c.valueType, number, text: c.text };
}

/** A column sent as little-endian doubles. */
function doubles(bytes: Uint8Array, field: string, n: number): Float64Array {
  if (bytes.length !== n * 8) throw invalidArgument("RAGGED_COLUMNS", `${field} holds ${bytes.length} bytes; ${n} events need ${n * 8}`);
  return float64sFrom(bytes);
}

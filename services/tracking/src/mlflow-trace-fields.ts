import { invalidArgument, printable, type Json } from "@kiln/core";
import { keyValues, objectAt, optionalText } from "./mlflow-http.js";
import type { TraceRecord } from "./records.js";

/* A trace's fields as MLflow's clients send them, held to MLflow's bounds (its SQL columns). */

export const MAX_KEY_CHARS = 250;
const MAX_VALUE_CHARS = 8000;
const MAX_PREVIEW_CHARS = 10_000;
/** MLflow 3's states, and MLflow 2's statuses (TRACE_STATUS_UNSPECIFIED for the first), by name or number. */
const STATES: Record<string, TraceRecord["state"]> = {
  STATE_UNSPECIFIED: "STATE_UNSPECIFIED",
  TRACE_STATUS_UNSPECIFIED: "STATE_UNSPECIFIED",
  OK: "OK",
  ERROR: "ERROR",
  IN_PROGRESS: "IN_PROGRESS",
  "0": "STATE_UNSPECIFIED",
  "1": "OK",
  "2": "ERROR",
  "3": "IN_PROGRESS",
};

export function traceState(fields: Record<string, Json>, name: string): TraceRecord["state"] {
  const state = STATES[String(fields[name] ?? "STATE_UNSPECIFIED")];
  if (!state) throw invalidArgument("INVALID_PARAMETER", `a trace's ${name} is OK, ERROR or IN_PROGRESS, not ${printable(String(fields[name])).slice(0, 40)}`);
  return state;
}

/** A tag or metadata entry, whether in a map or set on its own (set_trace_tag). */
export function checkTraceEntry(what: string, key: string, value: string): void {
  if (!key || key.length > MAX_KEY_CHARS) throw invalidArgument("INVALID_PARAMETER", `a trace's ${what} key is 1 to ${MAX_KEY_CHARS} characters`);
  if (value.length > MAX_VALUE_CHARS) throw invalidArgument("INVALID_PARAMETER", `a trace's ${what} value is at most ${MAX_VALUE_CHARS} characters (${printable(key).slice(0, 80)} has ${value.length})`);
}

/** A protobuf map<string, string> field (MLflow 3's), each entry checked. */
export function stringMap(fields: Record<string, Json>, name: string): Record<string, string> {
  const map = objectAt(fields, name) ?? {};
  for (const [key, value] of Object.entries(map)) {
    if (typeof value !== "string") throw invalidArgument("INVALID_PARAMETER", `${name}.${printable(key).slice(0, 80)} is a string`);
    checkTraceEntry(name, key, value);
  }
  return map as Record<string, string>;
}

/** A list of `{key, value}` (MLflow 2's tags and request_metadata) as a map, each entry checked. */
export function keyValueMap(fields: Record<string, Json>, name: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const { key, value } of keyValues(fields, name)) {
    checkTraceEntry(name, key, value);
    map[key] = value;
  }
  return map;
}

/** A protobuf Timestamp in JSON (RFC 3339), or milliseconds. */
export function timestampMs(fields: Record<string, Json>, name: string, otherwise: number): number {
  const v = fields[name];
  if (v === undefined || v === null || v === "") return otherwise;
  const ms = typeof v === "number" ? v : typeof v === "string" ? (/^\d+$/.test(v) ? Number(v) : Date.parse(v)) : NaN;
  if (!Number.isFinite(ms) || ms < 0) throw invalidArgument("INVALID_PARAMETER", `${name} is a time since 1970 such as "2026-01-01T00:00:00Z", not ${printable(JSON.stringify(v)).slice(0, 60)}`);
  return Math.trunc(ms);
}

/** A protobuf Duration in JSON ("1.5s"), as whole milliseconds. */
export function durationMs(fields: Record<string, Json>, name: string): number {
  const v = fields[name];
  if (v === undefined || v === null || v === "") return 0;
  const m = typeof v === "string" ? /^(\d+(?:\.\d+)?)s$/.exec(v) : null;
  if (!m) throw invalidArgument("INVALID_PARAMETER", `${name} is a duration such as "1.5s", not ${printable(JSON.stringify(v)).slice(0, 60)}`);
  return Math.round(Number(m[1]) * 1000);
}

export function preview(fields: Record<string, Json>, name: string): string {
  const text = optionalText(fields, name) ?? "";
  if (text.length > MAX_PREVIEW_CHARS) throw invalidArgument("INVALID_PARAMETER", `${name} is at most ${MAX_PREVIEW_CHARS} characters`);
  return text;
}

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { createHash } from "node:crypto";
import { invalidArgument, type Json } from "@kiln/core";
import { parseFilter } from "@kiln/data";
import { EventColumnsSchema, EventSchema } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { stringAt, type EventBatch, type TrackedEvent } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { checkedBatch, toTracked } from "./log.js";
import { doubleJson, keyValues, objectsOf, optionalInteger, optionalText, requiredDouble, requiredText, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { pageOf } from "./mlflow-search.js";
import { metricSeries } from "./metric-series.js";
import { linkMetrics, loggedModelById } from "./mlflow-logged-models.js";
import { activeRunById, checkRunTag, INPUT_EVENT, OUTPUT_EVENT, runById, runIdField, runsMetricsAndParams, setRunTags } from "./mlflow-runs.js";
import { changeRun } from "./runs.js";
import type { RunRecord } from "./records.js";

const MAX_METRICS_PER_BATCH = 1000;
const MAX_PARAMS_TAGS_PER_BATCH = 100;
const MAX_ENTITIES_PER_BATCH = 1000;

/** An id made from what MLflow logged, so a client's retry of the call stores nothing twice. */
function eventId(...parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

interface MetricIn {
  key: string;
  value: number;
  timestamp: number;
  step: number;
  /** MLflow 3's link of the point to a logged model. */
  modelId?: string;
}

const INT32_MAX = 2 ** 31 - 1;

function metricOf(fields: Record<string, Json>, now: number): MetricIn {
  const modelId = optionalText(fields, "model_id");
  const m = { key: requiredText(fields, "key"), value: requiredDouble(fields, "value"), timestamp: optionalInteger(fields, "timestamp") ?? now, step: optionalInteger(fields, "step") ?? 0, ...(modelId && { modelId }) };
  if (m.step < 0 || m.step > INT32_MAX) throw invalidArgument("INVALID_STEP", `metric '${m.key}': Kiln keeps steps from 0 to ${INT32_MAX}, got ${m.step}`);
  if (m.timestamp < 0) throw invalidArgument("INVALID_TIMESTAMP", `metric '${m.key}': a timestamp is milliseconds since the epoch, not ${m.timestamp}`);
  return m;
}

/**
 * Metric points as one columnar batch (as the SDK sends them): its id is made from the
 * points, so a retried request is skipped whole, and no per-point id is indexed.
 */
function metricsBatch(run: RunRecord, runId: string, metrics: readonly MetricIn[]): EventBatch {
  const strings = ["metric", ""];
  const keys = new Map<string, number>();
  const key = metrics.map((m) => {
    let at = keys.get(m.key);
    if (at === undefined) keys.set(m.key, (at = strings.push(m.key) - 1));
    return at;
  });
  const columns = create(EventColumnsSchema, {
    strings,
    event: metrics.map(() => 0),
    key,
    node: metrics.map(() => 1),
    step: metrics.map((m) => m.step),
    dt: metrics.map((m) => m.timestamp),
    valueType: metrics.map(() => 1),
    number: metrics.map((m) => m.value),
  });
  return checkedBatch(eventId(runId, "metrics", metrics.map((m) => [m.key, String(m.value), m.timestamp, m.step])), columns, run.experiment, run.run);
}

function paramEvent(run: RunRecord, runId: string, key: string, value: string, now: number): TrackedEvent {
  const e = create(EventSchema, { id: eventId(runId, "param", key), event: "param", dt: timestampFromMs(now), key, value: { case: "text", value } });
  return toTracked(e, run.experiment, run.run, now);
}

/** MLflow's rule: a param, once logged, keeps its value; the same value again is fine. */
async function checkParams(deps: TrackingDeps, run: RunRecord, runId: string, params: readonly { key: string; value: string }[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const p of params) {
    if (seen.has(p.key) && seen.get(p.key) !== p.value) throw invalidArgument("DUPLICATE_PARAM", `Duplicate parameter keys have been submitted: ['${p.key}']`);
    seen.set(p.key, p.value);
  }
  if (!params.length) return;
  const logged = await paramsOf(deps, run, new Set(params.map((p) => p.key)));
  for (const p of params) {
    const old = logged.get(p.key);
    if (old !== undefined && old !== p.value) {
      throw invalidArgument("PARAM_CHANGED", `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${old}' for run ID='${runId}'. Attempted logging new value '${p.value}'.`);
    }
  }
}

/** The run's params of these keys, as MLflow reads them (text), from the event store's summaries. */
async function paramsOf(deps: TrackingDeps, run: RunRecord, keys: Set<string>): Promise<Map<string, string>> {
  return (await runsMetricsAndParams(deps, run.experiment, { runs: [run.run] }, [...keys])).get(run.run)?.params ?? new Map<string, string>();
}

function eventsOf(event: string, keys: Set<string>) {
  return parseFilter(`event = ${JSON.stringify(event)} AND key IN (${[...keys].map((k) => JSON.stringify(k)).join(", ")})`);
}

/**
 * Stores params (each once per key: the same value again is skipped, and a race that
 * stored another value first is refused here) and then metric points. Points linked to a
 * logged model are the model's too; one the run has already (MLflow 3 logs a run's points
 * again with the model's id when it logs a model) is not stored twice.
 */
async function store(deps: TrackingDeps, project: string, run: RunRecord, runId: string, params: readonly { key: string; value: string }[], metrics: readonly MetricIn[]): Promise<void> {
  const linked = metrics.filter((m): m is MetricIn & { modelId: string } => m.modelId !== undefined);
  for (const modelId of new Set(linked.map((m) => m.modelId))) await loggedModelById(deps, project, modelId);
  if (params.length) {
    const now = nowOf(deps).getTime();
    const { duplicates } = await deps.events.append(params.map((p) => paramEvent(run, runId, p.key, p.value, now)));
    if (duplicates) await checkParams(deps, run, runId, params);
  }
  let fresh = metrics;
  if (linked.length) {
    const had = await pointsOf(deps, run, new Set(linked.map((m) => m.key)));
    fresh = metrics.filter((m) => m.modelId === undefined || !had.has(pointKey(m)));
  }
  if (fresh.length) await deps.events.appendBatch(metricsBatch(run, runId, fresh));
  if (linked.length) await linkMetrics(deps, project, runId, linked);
}

function pointKey(m: Pick<MetricIn, "key" | "step" | "timestamp" | "value">): string {
  return JSON.stringify([m.key, m.step, m.timestamp, String(m.value)]);
}

/** The run's metric points of these keys, as pointKey gives them. */
async function pointsOf(deps: TrackingDeps, run: RunRecord, keys: Set<string>): Promise<Set<string>> {
  const had = new Set<string>();
  for await (const page of deps.events.query({ experiment: run.experiment, runs: { runs: [run.run] }, filter: eventsOf("metric", keys) })) {
    for (let i = 0; i < page.length; i++) had.add(pointKey({ key: stringAt(page.key, i), step: page.step[i]!, timestamp: page.dt[i]!, value: page.number[i]! }));
  }
  return had;
}

async function logMetric(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const runId = runIdField(fields);
  const { run } = await activeRunById(deps, project, runId);
  await store(deps, project, run, runId, [], [metricOf(fields, nowOf(deps).getTime())]);
  return {};
}

async function logParam(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const runId = runIdField(fields);
  const { run } = await activeRunById(deps, project, runId);
  const param = { key: requiredText(fields, "key"), value: optionalText(fields, "value") ?? "" };
  await checkParams(deps, run, runId, [param]);
  await store(deps, project, run, runId, [param], []);
  return {};
}

/** Metrics, params and tags at once, checked whole before anything is stored. */
async function logBatch(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const runId = requiredText(fields, "run_id");
  const now = nowOf(deps).getTime();
  const metrics = objectsOf(fields, "metrics").map((m) => metricOf(m, now));
  const params = keyValues(fields, "params");
  const tags = keyValues(fields, "tags");
  const tooMany = (limit: number, what: string, n: number) => invalidArgument("BATCH_TOO_LARGE", `A batch logging request can contain at most ${limit} ${what}. Got ${n} ${what}.`);
  if (metrics.length > MAX_METRICS_PER_BATCH) throw tooMany(MAX_METRICS_PER_BATCH, "metrics", metrics.length);
  if (params.length > MAX_PARAMS_TAGS_PER_BATCH) throw tooMany(MAX_PARAMS_TAGS_PER_BATCH, "params", params.length);
  if (tags.length > MAX_PARAMS_TAGS_PER_BATCH) throw tooMany(MAX_PARAMS_TAGS_PER_BATCH, "tags", tags.length);
  const total = metrics.length + params.length + tags.length;
  if (total > MAX_ENTITIES_PER_BATCH) throw tooMany(MAX_ENTITIES_PER_BATCH, "entities", total);
  const { run } = await activeRunById(deps, project, runId);
  for (const t of tags) checkRunTag(t.key, t.value);
  await checkParams(deps, run, runId, params);
  await store(deps, project, run, runId, params, metrics);
  await setRunTags(deps, run, tags);
  return {};
}

async function metricHistory(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const runId = runIdField(fields);
  const { run } = await runById(deps, project, runId);
  const key = requiredText(fields, "metric_key");
  const series = await metricSeries(deps, run.experiment, run.run, key);
  // MLflow's history holds numbers only; each point becomes JSON once it is on the page.
  const numbers: number[] = [];
  for (let i = 0; i < series.length; i++) if (series.numeric[i]) numbers.push(i);
  const point = (i: number): Json => ({ key, value: doubleJson(series.value[i]!), timestamp: series.dt[i]!, step: series.step[i]! });
  const maxResults = optionalInteger(fields, "max_results");
  if (maxResults === undefined && !fields.page_token) return { metrics: numbers.map(point) };
  const page = pageOf(numbers, maxResults, optionalText(fields, "page_token"));
  return { metrics: page.items.map(point), ...(page.next ? { next_page_token: page.next } : {}) };
}

/** Where MLflow keeps the models a run logged (LogModel): a JSON list of their MLmodel files, as MLflow's own server does. */
const MODEL_HISTORY_TAG = "mlflow.log-model.history";
const MAX_MODEL_HISTORY_CHARS = 64 * 1024;

function jsonObject(text: string, what: string): { [key: string]: Json } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidArgument("INVALID_JSON", `${what} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidArgument("INVALID_JSON", `${what} is a JSON object`);
  return value as { [key: string]: Json };
}

async function logModel(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const { run } = await activeRunById(deps, project, requiredText(fields, "run_id"));
  const model = jsonObject(requiredText(fields, "model_json"), "model_json");
  await changeRun(deps, run.experiment, run.run, (r) => {
    const had = r.tags[MODEL_HISTORY_TAG];
    const history = (had ? (JSON.parse(had) as Json[]) : []).concat([model]);
    const text = JSON.stringify(history);
    if (text.length > MAX_MODEL_HISTORY_CHARS) throw invalidArgument("VALUE_TOO_LONG", `the run's ${MODEL_HISTORY_TAG} would be over ${MAX_MODEL_HISTORY_CHARS} characters`);
    return { ...r, tags: { ...r.tags, [MODEL_HISTORY_TAG]: text } };
  });
  return {};
}

/**
 * MLflow's LogInputs (dataset inputs) and LogOutputs (MLflow 3's model outputs): each an
 * `input` or `output` event, keyed by the dataset's name or the model's id, its value the
 * JSON MLflow sent.
 */
async function logLinks(deps: TrackingDeps, { project, fields }: MlflowCall, event: typeof INPUT_EVENT | typeof OUTPUT_EVENT): Promise<Json> {
  const runId = requiredText(fields, "run_id");
  const { run } = await activeRunById(deps, project, runId);
  const now = nowOf(deps).getTime();
  const list = event === INPUT_EVENT ? "datasets" : "models";
  const links = objectsOf(fields, list);
  const keys = links.map((link, i) => {
    if (event === OUTPUT_EVENT) return requiredText(link, "model_id");
    const dataset = link.dataset;
    if (typeof dataset !== "object" || dataset === null || Array.isArray(dataset)) throw invalidArgument("INVALID_PARAMETER", `datasets[${i}].dataset is an object`);
    requiredText(dataset, "digest");
    return requiredText(dataset, "name");
  });
  if (event === OUTPUT_EVENT) for (const modelId of new Set(keys)) await loggedModelById(deps, project, modelId);
  const events = links.map((link, i) => {
    const key = keys[i]!;
    const value = JSON.stringify(link);
    const e = create(EventSchema, { id: eventId(runId, event, value), event, dt: timestampFromMs(now), key, value: { case: "json", value } });
    return toTracked(e, run.experiment, run.run, now);
  });
  if (events.length) await deps.events.append(events);
  return {};
}

export function loggingEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    "mlflow/runs/log-metric": { method: "POST", role: "write", answer: (c) => logMetric(deps, c) },
    "mlflow/runs/log-parameter": { method: "POST", role: "write", answer: (c) => logParam(deps, c) },
    "mlflow/runs/log-batch": { method: "POST", role: "write", answer: (c) => logBatch(deps, c) },
    "mlflow/runs/log-model": { method: "POST", role: "write", answer: (c) => logModel(deps, c) },
    "mlflow/runs/log-inputs": { method: "POST", role: "write", answer: (c) => logLinks(deps, c, INPUT_EVENT) },
    "mlflow/runs/outputs": { method: "POST", role: "write", answer: (c) => logLinks(deps, c, OUTPUT_EVENT) },
    "mlflow/metrics/get-history": { method: "GET", role: "read", answer: (c) => metricHistory(deps, c) },
  };
}

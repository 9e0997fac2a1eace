import type { ExecutorInfo, JobDriftInfo, JobInfo } from "@kiln/sdk";
import { jobDriftSides, printDriftTable } from "./drift.js";
import { explanationText, printExplanation } from "./explain.js";
import { printFields, printTable, type Output } from "./output.js";

/**
 * `projects/default/models/churn/versions/2` → `churn:2` (a job waiting for the fit that
 * trains its model shows `churn:latest` or `churn:TAG`); people type the short form, so they read it too.
 */
export function shortModel(name: string): string {
  const m = /^projects\/[^/]+\/models\/([^/]+)(?:\/versions\/([^/]+))?$/.exec(name);
  if (!m) return name;
  return m[2] ? `${m[1]}:${m[2]}` : m[1]!;
}

/** `projects/default/datasets/sales` and version 3 → `sales@3` (the form runtime verbs take). */
export function shortDataset(name: string, version?: number): string {
  const m = /^projects\/[^/]+\/datasets\/([^/]+)$/.exec(name);
  const base = m ? m[1]! : name;
  return version ? `${base}@${version}` : base;
}

export const lastSegment = (name: string) => name.slice(name.lastIndexOf("/") + 1);

/** Six significant digits: enough to read a loss or a score at a glance. */
export function formatMetric(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

export const metricList = (metrics: Record<string, number>) =>
  Object.entries(metrics)
    .map(([k, v]) => `${k}=${formatMetric(v)}`)
    .join(" ");

/** How far a job is, in one short phrase: rows, fraction (unless a bar shows it), epoch and metrics, the executor's message. */
export function progressText(info: JobInfo, options: { fraction?: boolean } = {}): string {
  const p = info.progress;
  if (info.reusedFrom) return "reused"; // nothing ran: jobs:show names whose result it took
  const parts: string[] = [];
  if (info.state === "queued" && info.waitingFor.length) parts.push(`waiting for ${info.waitingFor.map(lastSegment).join(", ")}`);
  if (p.rowsTotal > 0) parts.push(`${p.rowsDone}/${p.rowsTotal} rows`);
  else if (p.rowsDone > 0) parts.push(`${p.rowsDone} rows`);
  else if (p.fraction > 0 && options.fraction !== false) parts.push(`${Math.round(p.fraction * 100)}%`);
  if (p.epoch > 0) parts.push(`epoch ${p.epoch}`);
  const metrics = metricList(p.metrics);
  if (metrics) parts.push(metrics);
  if (p.message && info.state === "running") parts.push(p.message);
  return parts.join(", ");
}

/** What a finished job gave: the new version, the rows written, the metrics. */
export function resultText(info: JobInfo): string {
  const r = info.result;
  if (!r) return "";
  const parts: string[] = info.reusedFrom ? [`reused ${lastSegment(info.reusedFrom)}`] : [];
  if (r.modelVersion) parts.push(`version ${shortModel(r.modelVersion)}`);
  if (r.rows > 0 || info.kind.startsWith("predict") || info.kind === "transform" || info.kind === "explain") parts.push(`${r.rows} rows`);
  if (r.output) parts.push(`→ ${shortDataset(r.output.name, r.output.version)}`);
  if (r.drift) return [...parts, driftText(r.drift)].join(", "); // its metrics are each feature's
  if (r.explanation) return [...parts, explanationText(r.explanation)].filter(Boolean).join(", "); // so are these
  const metrics = metricList(r.metrics);
  if (metrics) parts.push(metrics);
  return parts.join(", ");
}

/** "no drift in 5 features", or "drift in 2 of 5 features: age, income". */
export function driftText(d: JobDriftInfo): string {
  const drifted = [...d.columns.filter((c) => c.drifted).map((c) => c.column), ...d.missingColumns];
  const of = d.columns.length + d.missingColumns.length;
  return drifted.length ? `drift in ${drifted.length} of ${of} features: ${drifted.join(", ")}` : `no drift in ${of} features`;
}

export function errorText(e: { code: string; reason: string; message: string } | undefined): string {
  if (!e) return "";
  return `${e.message} (${[e.code, e.reason].filter(Boolean).join(", ")})`;
}

/** One row of `kiln jobs`. */
export function jobRow(info: JobInfo): Record<string, unknown> {
  return {
    id: info.id,
    kind: info.kind,
    model: shortModel(info.model),
    state: info.state,
    attempts: info.attempts.length,
    created: info.createTime,
    progress: clip(info.state === "succeeded" ? resultText(info) : info.state === "failed" ? errorText(info.error) : progressText(info), PROGRESS_WIDTH),
  };
}

/** The free text (progress, result, error) goes last and is cut short: one long error widened every row. `jobs:show` has it whole. */
export const jobColumns = ["id", "kind", "model", "state", "attempts", "created", "progress"];
const PROGRESS_WIDTH = 100;

export function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** `jobs:show` for people: the job's fields, then its attempts, result metrics and error. */
export function printJob(o: Output, info: JobInfo): void {
  const input = (i: JobInfo["x"]) =>
    i &&
    [shortDataset(i.dataset, i.version), i.columns.length ? `columns ${i.columns.join(", ")}` : "", i.filter ? `where ${i.filter}` : "", i.temporary ? "(temporary)" : ""]
      .filter(Boolean)
      .join(" ");
  const r = info.result;
  const pairs: [string, unknown][] = [
    ["id", info.id],
    ["name", info.name],
    ["kind", info.kind],
    ["model", shortModel(info.model)],
    ["x", input(info.x)],
    ...(info.y ? ([["y", input(info.y)]] as [string, unknown][]) : []),
    ["params", Object.keys(info.params).length ? info.params : ""],
    ["labels", info.requiredLabels.join(", ")],
    ...(info.outputDataset ? ([["output", shortDataset(info.outputDataset)]] as [string, unknown][]) : []),
    ...(info.keepColumns.length ? ([["keep", info.keepColumns.join(", ")]] as [string, unknown][]) : []),
    ...(info.requestId ? ([["request id", info.requestId]] as [string, unknown][]) : []),
    ...(info.creator ? ([["creator", info.creator]] as [string, unknown][]) : []),
    ...(info.schedule ? ([["schedule", lastSegment(info.schedule)]] as [string, unknown][]) : []),
    ...(info.after.length ? ([["after", info.after.map(lastSegment).join(", ")]] as [string, unknown][]) : []),
    ["state", info.state],
    ...(info.reusedFrom ? ([["reused from", lastSegment(info.reusedFrom)]] as [string, unknown][]) : []),
    ["progress", progressText(info)],
    ["max attempts", info.maxAttempts || ""],
    ["created", info.createTime],
    ["started", info.startTime],
    ["ended", info.endTime],
  ];
  if (r) {
    if (r.modelVersion) pairs.push(["model version", shortModel(r.modelVersion)]);
    if (r.ranModelVersion) pairs.push(["ran version", shortModel(r.ranModelVersion)]);
    if (r.rows || r.output) pairs.push(["rows", r.rows]);
    if (r.output) pairs.push(["wrote", shortDataset(r.output.name, r.output.version)]);
  }
  if (info.error) pairs.push(["error", errorText(info.error)]);
  printFields(o, pairs);
  if (r?.drift) {
    o.out.write("\n");
    printDriftTable(o, r.drift, `trained on ${jobDriftSides(r.drift)}`);
  }
  if (r?.explanation) {
    o.out.write("\n");
    printExplanation(o, r.explanation, `${shortModel(r.ranModelVersion)} explained on ${r.rows} rows`);
  }
  const metrics = r?.drift || r?.explanation ? [] : Object.entries(r?.metrics ?? {});
  if (metrics.length) {
    o.out.write("\nmetrics:\n");
    for (const [k, v] of metrics) o.out.write(`  ${k}: ${v}\n`);
  }
  if (info.attempts.length) {
    o.out.write("\nattempts:\n");
    printTable(
      o,
      info.attempts.map((a) => ({ "#": a.number, executor: lastSegment(a.executor), started: a.startTime, ended: a.endTime, error: errorText(a.error) })),
      ["#", "executor", "started", "ended", "error"],
    );
  }
}

/** One row of `kiln executors`. */
export function executorRow(e: ExecutorInfo): Record<string, unknown> {
  return {
    id: lastSegment(e.name),
    host: e.host,
    labels: e.labels.join(", "),
    slots: e.slots,
    running: e.runningJobs.length ? `${e.runningJobs.length} (${e.runningJobs.map(lastSegment).join(", ")})` : 0,
    serving: e.serving.map((d) => `${lastSegment(d.deployment)}${d.state === "ready" ? "" : ` (${d.state})`}`).join(", "),
    heartbeat: e.lastHeartbeat,
  };
}

export const executorColumns = ["id", "host", "labels", "slots", "running", "serving", "heartbeat"];

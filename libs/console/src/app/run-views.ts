import { explanationMethodText, graphDeployments, graphNodeText, graphStepText, type JobDriftInfo, type JobExplanationInfo, type JobInfo, type JobStateName, type Kiln } from "@kiln/sdk";
import { fields, h, lastSegment, link, number, state, table, when } from "./dom.js";

/** Jobs a page lists: the newest. */
const JOBS = 100;

/** States a jobs page may be narrowed to (`#/jobs?state=running`). */
const STATES: readonly JobStateName[] = ["queued", "running", "succeeded", "failed", "cancelled"];

export async function jobsView(kiln: Kiln, query = new URLSearchParams()): Promise<Node[]> {
  const picked = STATES.filter((s) => query.getAll("state").includes(s));
  const schedule = query.get("schedule") ?? undefined;
  const [jobs, executors] = await Promise.all([kiln.runtime.jobs({ limit: JOBS, states: picked.length ? picked : undefined, schedule }), kiln.runtime.executors()]);
  return [
    h("h1", { "data-live": "" }, schedule ? `Jobs of schedule ${schedule}` : "Jobs"),
    h("p", {}, "show: ", link("#/jobs", "all"), ...STATES.flatMap((s) => [" ", link(`#/jobs?state=${s}${schedule ? `&schedule=${encodeURIComponent(schedule)}` : ""}`, s)])),
    table(jobs, [
      { title: "id", cell: (j) => link(`#/jobs/${encodeURIComponent(j.id)}`, j.id) },
      { title: "kind", cell: (j) => j.kind },
      { title: "model", cell: (j) => modelRef(j.model) },
      { title: "state", cell: (j) => state(j.state) },
      { title: "progress", cell: progressOf },
      { title: "creator", cell: (j) => j.creator },
      { title: "created", cell: (j) => when(j.createTime) },
    ], picked.length ? `no ${picked.join(" or ")} jobs` : "none yet"),
    h("h2", {}, "Executors"),
    table(executors, [
      { title: "executor", cell: (e) => lastSegment(e.name) },
      { title: "labels", cell: (e) => e.labels.join(", ") },
      { title: "slots", cell: (e) => e.slots, numeric: true },
      { title: "running", cell: (e) => e.runningJobs.map(lastSegment).join(", ") },
      { title: "serving", cell: (e) => e.serving.map((d) => `${lastSegment(d.deployment)} (${d.state})`).join(", ") },
      { title: "last heartbeat", cell: (e) => when(e.lastHeartbeat) },
    ], "none alive"),
  ];
}

export async function jobView(kiln: Kiln, _query: URLSearchParams, id: string): Promise<Node[]> {
  const j = await kiln.runtime.job(id).info();
  const r = j.result;
  const over = j.state === "succeeded" || j.state === "failed" || j.state === "cancelled";
  const out: Node[] = [
    // A job still to end is read again (see main.ts); one that is over stays as it is.
    h("h1", over ? {} : { "data-live": "" }, `Job ${j.id}`),
    fields([
      ["kind", j.kind],
      ["state", state(j.state)],
      ["progress", progressOf(j)],
      ["model", modelRef(j.model)],
      ["x", j.x ? `${lastSegment(j.x.dataset)}@${j.x.version}${j.x.filter ? ` where ${j.x.filter}` : ""}` : ""],
      ["y", j.y ? `${lastSegment(j.y.dataset)}@${j.y.version}` : ""],
      ["params", Object.keys(j.params).length ? JSON.stringify(j.params) : ""],
      ["after", j.after.map(lastSegment).join(", ")],
      ["reused from", j.reusedFrom ? link(`#/jobs/${lastSegment(j.reusedFrom)}`, lastSegment(j.reusedFrom)) : ""],
      ["creator", j.creator],
      ["schedule", j.schedule ? link(`#/jobs?schedule=${encodeURIComponent(lastSegment(j.schedule))}`, lastSegment(j.schedule)) : ""],
      ["created", when(j.createTime)],
      ["ended", when(j.endTime)],
      ["made", r?.modelVersion ? modelRef(r.modelVersion) : r?.output ? `${lastSegment(r.output.name)}@${r.output.version}` : ""],
      // A drift or explain job's metrics are its tables' figures, below.
      ["metrics", r?.drift || r?.explanation ? "" : Object.entries(r?.metrics ?? {}).map(([k, v]) => `${k}=${number(v)}`).join(" ")],
      ["error", j.error ? h("span", { class: "error" }, `${j.error.message} (${j.error.code}, ${j.error.reason})`) : ""],
    ]),
    h("h2", {}, "Attempts"),
    table(j.attempts, [
      { title: "#", cell: (a) => a.number, numeric: true },
      { title: "executor", cell: (a) => lastSegment(a.executor) },
      { title: "started", cell: (a) => when(a.startTime) },
      { title: "ended", cell: (a) => when(a.endTime) },
      { title: "error", cell: (a) => (a.error ? h("span", { class: "error" }, a.error.message) : "") },
    ], j.reusedFrom ? "none: it reused another job's result" : "none yet"),
  ];
  if (r?.drift) out.push(...driftOf(r.drift));
  if (r?.explanation) out.push(...explanationOf(r.explanation));
  if (j.state === "succeeded" && (r?.rows ?? 0) > 0) out.push(...(await resultRows(kiln, j.id)));
  return out;
}

/** A drift job's comparison: what with what, and each feature's figures. */
function driftOf(d: JobDriftInfo): Node[] {
  const side = (s: JobDriftInfo["baseline"], rows: number) => `${s.dataset}@${s.version}${s.filter ? ` where ${s.filter}` : ""} (${rows} rows)`;
  return [
    h("h2", {}, "Drift"),
    h("p", {}, `${side(d.target, d.targetRows)} against the training data ${side(d.baseline, d.baselineRows)}: `, d.drifted ? h("span", { class: "error" }, `${d.driftedCount + d.missingColumns.length} drifted`) : "no drift"),
    table(d.columns, [
      { title: "feature", cell: (c) => c.column },
      { title: "kind", cell: (c) => c.kind },
      { title: "PSI", cell: (c) => number(c.psi), numeric: true },
      { title: "test", cell: (c) => c.test },
      { title: "p-value", cell: (c) => (c.test ? number(c.pValue) : ""), numeric: true },
      { title: "mean shift", cell: (c) => (c.kind === "numeric" && c.test ? number(c.meanShift) : ""), numeric: true },
      { title: "new values", cell: (c) => c.newValues.join(", ") },
      { title: "drifted", cell: (c) => (c.drifted ? h("span", { class: "error" }, c.note || "yes") : c.note) },
    ]),
    ...(d.missingColumns.length ? [h("p", { class: "error" }, `missing from X: ${d.missingColumns.join(", ")}`)] : []),
  ];
}

/** Length of the longest bar of an explanation, in em. */
const BAR_EM = 12;

/** An explain job's summary: where the background came from, and each output's features by mean |Shapley value|, with bars. */
function explanationOf(e: JobExplanationInfo): Node[] {
  const background = `${e.background.dataset}@${e.background.version}${e.background.filter ? ` where ${e.background.filter}` : ""}`;
  return [
    h("h2", {}, "Explanation"),
    h("p", {}, `Shapley values against ${e.backgroundRows} background rows of ${background} (${explanationMethodText(e)}).`),
    ...e.outputs.flatMap((o) => {
      const largest = Math.max(...o.features.map((f) => f.meanAbs), 0);
      return [
        h("h3", {}, `${o.output === "prediction" ? o.output : `class ${o.output}`}: base value ${number(o.baseValue)}, ${o.rows} rows`),
        table(o.features, [
          { title: "feature", cell: (f) => f.feature },
          { title: "mean |SHAP|", cell: (f) => number(f.meanAbs), numeric: true },
          { title: "mean SHAP", cell: (f) => number(f.mean), numeric: true },
          { title: "", cell: (f) => h("span", { class: "bar", style: `width: ${largest > 0 ? ((BAR_EM * f.meanAbs) / largest).toFixed(2) : 0}em` }) },
        ]),
      ];
    }),
  ];
}

/** Rows of a job's results a page shows: the first ones. */
const RESULT_ROWS = 20;

/** The first rows of a predict's results, while they are kept (KILN_RESULTS_TTL_MS). */
async function resultRows(kiln: Kiln, id: string): Promise<Node[]> {
  try {
    for await (const chunk of kiln.runtime.job(id).results()) {
      const rows = chunk.slice(0, RESULT_ROWS).toArray() as Record<string, unknown>[];
      const names = chunk.schema.fields.map((f) => f.name);
      return [h("h2", {}, `First ${rows.length} result rows`), table(rows, names.map((name) => ({ title: name, cell: (row: Record<string, unknown>) => shownValue(row[name]) })))];
    }
    return [];
  } catch (e) {
    return [h("h2", {}, "Results"), h("p", { class: "muted" }, (e as Error).message)];
  }
}

function shownValue(v: unknown): string {
  return v === null || v === undefined ? "" : typeof v === "number" ? number(v) : String(v);
}

export async function deploymentsView(kiln: Kiln): Promise<Node[]> {
  const list = await kiln.deployments.list();
  return [
    h("h1", {}, "Deployments"),
    table(list, [
      { title: "id", cell: (d) => d.id },
      { title: "serves", cell: (d) => modelRef(d.modelVersion) },
      { title: "state", cell: (d) => state(d.state) },
      { title: "ready", cell: (d) => `${d.readyReplicas} of ${d.replicas}${d.autoscaling ? ` (${d.autoscaling.minReplicas}–${d.autoscaling.maxReplicas} by load)` : ""}` },
      { title: "executors", cell: (d) => d.executors.map(lastSegment).join(", ") },
      { title: "requests", cell: (d) => d.stats.requests, numeric: true },
      { title: "rows", cell: (d) => d.stats.rows, numeric: true },
      { title: "failures", cell: (d) => d.stats.failures, numeric: true },
      { title: "p50 ms", cell: (d) => number(d.stats.latencyP50Ms), numeric: true },
      { title: "p99 ms", cell: (d) => number(d.stats.latencyP99Ms), numeric: true },
      { title: "canary", cell: (d) => (d.canary ? `${modelRef(d.canary.modelVersion)} ${d.canary.percent}%` : "") },
      { title: "request log", cell: (d) => (d.requestLog ? `${d.requestLog.dataset}-YYYY-MM-DD ${d.requestLog.samplePercent}%: ${d.stats.loggedRows} rows (${d.stats.unloggedRows} dropped)` : "") },
      { title: "explainer", cell: (d) => (d.explainer ? `${d.explainer.backgroundRows ?? 100} rows of ${d.explainer.background ?? "the training data"}${d.explainer.method ? `, ${d.explainer.method}` : ""}` : "") },
      { title: "error", cell: (d) => (d.error ? h("span", { class: "error" }, d.error.message) : "") },
    ]),
  ];
}

export async function schedulesView(kiln: Kiln): Promise<Node[]> {
  const list = await kiln.schedules.list();
  return [
    h("h1", {}, "Schedules"),
    table(list, [
      { title: "id", cell: (s) => s.id },
      { title: "cron", cell: (s) => `${s.timeZone === "UTC" ? s.cron : `${s.cron} ${s.timeZone}`}${s.catchUp ? " (catch up)" : ""}` },
      { title: "job", cell: (s) => `${s.job.kind} ${modelRef(s.job.model)}${s.job.x ? ` on ${lastSegment(s.job.x.dataset)}` : ""}` },
      { title: "next", cell: (s) => (s.paused ? "paused" : when(s.nextRunTime)) },
      { title: "last", cell: (s) => when(s.lastRunTime) },
      { title: "runs", cell: (s) => (s.runCount ? link(`#/jobs?schedule=${encodeURIComponent(s.id)}`, String(s.runCount)) : 0), numeric: true },
      { title: "last job", cell: (s) => (s.lastJob ? link(`#/jobs/${encodeURIComponent(lastSegment(s.lastJob))}`, lastSegment(s.lastJob)) : s.lastError ? h("span", { class: "error" }, s.lastError) : "") },
    ]),
  ];
}

export async function webhooksView(kiln: Kiln): Promise<Node[]> {
  const list = await kiln.webhooks.list();
  return [
    h("h1", {}, "Webhooks"),
    table(list, [
      { title: "id", cell: (w) => w.id },
      { title: "url", cell: (w) => w.url },
      { title: "events", cell: (w) => w.events.join(", ") },
      { title: "signed", cell: (w) => (w.hasSecret ? "yes" : "") },
      { title: "state", cell: (w) => (w.paused ? "paused" : "active") },
      { title: "delivered", cell: (w) => w.deliveredCount, numeric: true },
      { title: "failed", cell: (w) => w.failedCount, numeric: true },
      { title: "last", cell: (w) => (w.lastDeliveryTime ? when(w.lastDeliveryTime) : "") },
      { title: "last error", cell: (w) => (w.lastError ? h("span", { class: "error" }, w.lastError) : "") },
    ]),
  ];
}

export async function inferenceGraphsView(kiln: Kiln): Promise<Node[]> {
  const list = await kiln.inferenceGraphs.list();
  return [
    h("h1", {}, "Inference graphs"),
    table(list, [
      { title: "id", cell: (g) => g.id },
      { title: "nodes", cell: (g) => h("div", {}, ...Object.entries(g.nodes).map(([name, node]) => h("div", {}, `${name}: ${graphNodeText(node)} → ${node.steps.map((s) => `${s.name}: ${graphStepText(s)}`).join("; ")}`))) },
      { title: "deployments", cell: (g) => graphDeployments(g).join(", ") },
      { title: "description", cell: (g) => g.description },
      { title: "updated", cell: (g) => when(g.updateTime) },
    ]),
  ];
}

function progressOf(j: JobInfo): string {
  if (j.reusedFrom) return "reused";
  if (j.state === "queued" && j.waitingFor.length) return `waiting for ${j.waitingFor.map(lastSegment).join(", ")}`;
  const p = j.progress;
  if (p.rowsTotal > 0) return `${p.rowsDone}/${p.rowsTotal} rows`;
  if (p.fraction > 0) return `${Math.round(p.fraction * 100)}%`;
  return p.epoch ? `epoch ${p.epoch}` : "";
}

/** projects/p/models/churn/versions/3 → churn:3 */
function modelRef(name: string): string {
  const m = /models\/([^/]+)(?:\/versions\/([^/]+))?$/.exec(name);
  return m ? (m[2] ? `${m[1]}:${m[2]}` : m[1]!) : name;
}

import { spansInTreeOrder, type Experiment, type TraceDetail, type TraceSummary } from "@kiln/sdk";
import { clipped, fields, h, lastSegment, link, state, table, when } from "./dom.js";

/** Traces an experiment's page lists: the newest. */
const LISTED_TRACES = 50;

function traceHref(experiment: string, traceId: string): string {
  return `#/experiments/${encodeURIComponent(experiment)}/traces/${encodeURIComponent(traceId)}`;
}

/** The experiment's newest traces (MLflow's tracing), or nothing when it has none. */
export async function tracesSection(exp: Experiment, experiment: string): Promise<Node[]> {
  const traces = await exp.traces({ limit: LISTED_TRACES });
  if (!traces.length) return [];
  return [
    h("h2", {}, "Traces"),
    table<TraceSummary>(traces, [
      { title: "trace", cell: (t) => link(traceHref(experiment, t.traceId), t.traceId) },
      { title: "time", cell: (t) => when(t.requestTime) },
      { title: "state", cell: (t) => state(t.state) },
      { title: "ms", cell: (t) => t.executionMs, numeric: true },
      { title: "name", cell: (t) => t.tags["mlflow.traceName"] ?? "" },
      { title: "request", cell: (t) => clipped(t.request) },
      { title: "response", cell: (t) => clipped(t.response) },
    ]),
  ];
}

/** One trace: its info, assessments, and its spans as an indented tree with their inputs and outputs. */
export async function traceView(exp: Experiment, experiment: string, traceId: string): Promise<Node[]> {
  const t: TraceDetail = await exp.trace(traceId);
  const userTags = Object.entries(t.tags).filter(([k]) => !k.startsWith("mlflow."));
  return [
    h("h1", {}, `Trace ${t.traceId}`),
    h("p", {}, link(`#/experiments/${encodeURIComponent(experiment)}`, `experiment ${experiment}`)),
    fields([
      ["name", t.tags["mlflow.traceName"] ?? ""],
      ["state", state(t.state)],
      ["time", when(t.requestTime)],
      ["duration", `${t.executionMs} ms`],
      ["runs", t.runs.map((r) => `run ${lastSegment(r)}`).join(", ")],
      ["tags", userTags.map(([k, v]) => `${k}=${v}`).join(", ")],
      ["request", clipped(t.request, 2000)],
      ["response", clipped(t.response, 2000)],
    ]),
    h("h2", {}, "Assessments"),
    table(t.assessments, [
      { title: "kind", cell: (a) => a.kind },
      { title: "name", cell: (a) => a.name },
      { title: "value", cell: (a) => clipped(a.value) },
      { title: "valid", cell: (a) => (a.valid ? "yes" : "overridden") },
      { title: "source", cell: (a) => a.source },
      { title: "rationale", cell: (a) => a.rationale },
    ]),
    h("h2", {}, "Spans"),
    table(
      spansInTreeOrder(t.spans),
      [
        { title: "span", cell: ({ span, depth }) => h("span", { style: `padding-left: ${depth * 1.5}em` }, span.name) },
        { title: "type", cell: ({ span }) => span.type },
        { title: "status", cell: ({ span }) => state(span.status) },
        { title: "ms", cell: ({ span }) => (span.startTime && span.endTime ? span.endTime.getTime() - span.startTime.getTime() : ""), numeric: true },
        { title: "inputs", cell: ({ span }) => clipped(span.inputs) },
        { title: "outputs", cell: ({ span }) => clipped(span.outputs) },
      ],
      "no spans uploaded",
    ),
  ];
}

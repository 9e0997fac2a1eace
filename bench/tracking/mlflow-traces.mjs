// MLflow 3's tracing against Kiln, each figure beside a baseline of the same server in the
// same run:
// 1. logging: a trace as MLflow's client sends one (StartTraceV3, then its spans' file of
//    about 2 KB by PUT), 8 in flight, against two runs/log-metric calls (the same number of
//    requests, MLflow's cheapest write); and the same spans as OpenTelemetry's exporter sends
//    them (one OTLP protobuf request a trace to /v1/traces) against one log-metric call;
// 2. search_traces' first page (100, newest first) of an experiment of --traces traces,
//    unfiltered, by a tag, by a span's name (kept in the trace when its spans came) and by
//    the spans' text (which reads spans' files newest first until its page is full), and unfiltered oldest first, against runs/search's first page of
//    100 of an experiment of as many runs.
// Usage: node bench/tracking/mlflow-traces.mjs [--traces 2000] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { ExportTraceServiceRequestSchema } from "@kiln/proto/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import { bestMs, countArgs, load, mlflowPost, startKiln } from "../lib.mjs";

const { traces, rounds } = countArgs({ traces: 2000, rounds: 3 });
const IN_FLIGHT = 8;

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-traces-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const post = mlflowPost(server.url);
const api = (path) => new URL(`/api/${path}`, server.url);
const send = async (method, path, body, type = "application/json") => {
  const res = await fetch(api(path), { method, headers: { "content-type": type }, body });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};

/** Spans as MLflow's Span.to_dict writes them: a chain, a retriever and an LLM call. */
function spansOf(i) {
  const at = 1_796_545_683_000_000_000 + i * 1e9;
  const span = (id, parent, name, type, inputs, outputs) => ({
    trace_id: "AAAA",
    span_id: id,
    parent_span_id: parent,
    name,
    start_time_unix_nano: at,
    end_time_unix_nano: at + 5e7,
    events: [],
    status: { code: "STATUS_CODE_OK", message: "" },
    attributes: { "mlflow.traceRequestId": `"tr-${i}"`, "mlflow.spanType": JSON.stringify(type), "mlflow.spanInputs": JSON.stringify(inputs), "mlflow.spanOutputs": JSON.stringify(outputs) },
  });
  return JSON.stringify({
    spans: [
      span("s0", null, "answer", "CHAIN", { question: `question ${i} about the churn model and its features` }, "an answer of some length, " + "words ".repeat(40)),
      span("s1", "s0", i % 10 === 0 ? "rerank" : "retrieve", "RETRIEVER", { query: `query ${i}` }, Array.from({ length: 5 }, (_, d) => ({ page_content: `document ${d} `.repeat(10), metadata: { id: d } }))),
      span("s2", "s0", "chat", "CHAT_MODEL", { messages: [{ role: "user", content: `question ${i}` }] }, { choices: [{ message: { role: "assistant", content: "words ".repeat(30) } }] }),
    ],
  });
}

/** The same three spans as one OTLP request (what OpenTelemetry's protobuf exporter sends). */
function otlpBody(i) {
  const id = (n, bytes) => Buffer.from(n.toString(16).padStart(bytes * 2, "0"), "hex");
  const traceId = id(0x100000000 + i, 16); // apart from the ids of the traces logged the MLflow way
  const at = 1_796_545_683_000_000_000n + BigInt(i) * 1_000_000_000n;
  const value = (v) => ({ value: { case: "stringValue", value: JSON.stringify(v) } });
  const span = (n, parent, name, type, inputs, outputs) => ({
    traceId,
    spanId: id(n + 1, 8),
    parentSpanId: parent === null ? new Uint8Array() : id(parent + 1, 8),
    name,
    startTimeUnixNano: at,
    endTimeUnixNano: at + 50_000_000n,
    attributes: [
      { key: "mlflow.spanType", value: value(type) },
      { key: "mlflow.spanInputs", value: value(inputs) },
      { key: "mlflow.spanOutputs", value: value(outputs) },
    ],
  });
  const spans = [
    span(0, null, "answer", "CHAIN", { question: `question ${i}` }, "an answer of some length, " + "words ".repeat(40)),
    span(1, 0, "retrieve", "RETRIEVER", { query: `query ${i}` }, Array.from({ length: 5 }, (_, d) => ({ page_content: `document ${d} `.repeat(10) }))),
    span(2, 0, "chat", "CHAT_MODEL", { messages: [{ role: "user", content: `question ${i}` }] }, { choices: [{ message: { content: "words ".repeat(30) } }] }),
  ];
  return toBinary(ExportTraceServiceRequestSchema, create(ExportTraceServiceRequestSchema, { resourceSpans: [{ resource: { attributes: [{ key: "service.name", value: { value: { case: "stringValue", value: "bench" } } }] }, scopeSpans: [{ spans }] }] }));
}

async function logTrace(experimentId, i) {
  const traceId = `tr-${String(i).padStart(32, "0")}`;
  const info = {
    trace_id: traceId,
    trace_location: { type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } },
    request_time: new Date(Date.UTC(2026, 11, 6) + i * 1000).toISOString(),
    execution_duration: "0.050s",
    state: i % 20 === 0 ? "ERROR" : "OK",
    trace_metadata: { "mlflow.source.type": "LOCAL", "mlflow.trace_schema.version": "3", "mlflow.user": "ana" },
    tags: { "mlflow.traceName": "answer", topic: i % 3 === 0 ? "math" : "art" },
    request_preview: JSON.stringify({ question: `question ${i}` }),
    response_preview: '"an answer"',
  };
  const started = await send("POST", "3.0/mlflow/traces", JSON.stringify({ trace: { trace_info: info } }));
  const location = started.trace.trace_info.tags["mlflow.artifactLocation"].slice("mlflow-artifacts:/".length);
  await send("PUT", `2.0/mlflow-artifacts/artifacts/${location}/traces.json`, spansOf(i), "application/octet-stream");
}

try {
  const { experiment_id: traced } = await post("experiments/create", { name: "bench-traces" });
  const logged = await load(traces, IN_FLIGHT, (i) => logTrace(traced, i));
  const { experiment_id: metricsExperiment } = await post("experiments/create", { name: "bench-trace-baseline" });
  const { run } = await post("runs/create", { experiment_id: metricsExperiment, start_time: Date.now() });
  const baseline = await load(traces, IN_FLIGHT, async (i) => {
    await post("runs/log-metric", { run_id: run.info.run_id, key: "latency", value: i, timestamp: Date.now(), step: 2 * i });
    await post("runs/log-metric", { run_id: run.info.run_id, key: "latency", value: i, timestamp: Date.now(), step: 2 * i + 1 });
  });
  const { experiment_id: otlpExperiment } = await post("experiments/create", { name: "bench-traces-otlp" });
  const bodies = Array.from({ length: traces }, (_, i) => otlpBody(i));
  const otlp = await load(traces, IN_FLIGHT, async (i) => {
    const res = await fetch(new URL("/v1/traces", server.url), { method: "POST", headers: { "content-type": "application/x-protobuf", "x-mlflow-experiment-id": otlpExperiment }, body: bodies[i] });
    if (res.status !== 200) throw new Error(`/v1/traces: ${res.status} ${await res.text()}`);
  });
  const single = await load(traces, IN_FLIGHT, (i) => post("runs/log-metric", { run_id: run.info.run_id, key: "single", value: i, timestamp: Date.now(), step: i }));

  // As many runs, each with a metric and a param, for runs/search's page.
  const { experiment_id: searchedRuns } = await post("experiments/create", { name: "bench-trace-runs" });
  await load(traces, IN_FLIGHT, async (i) => {
    const { run: each } = await post("runs/create", { experiment_id: searchedRuns, start_time: Date.now() + i });
    await post("runs/log-batch", { run_id: each.info.run_id, metrics: [{ key: "latency", value: i, timestamp: Date.now(), step: 0 }], params: [{ key: "topic", value: i % 3 ? "art" : "math" }] });
  });

  const searchTraces = (filter, expected, extra = {}) =>
    bestMs(rounds, async () => {
      const page = await send("POST", "3.0/mlflow/traces/search", JSON.stringify({ locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: traced } }], max_results: 100, ...(filter && { filter }), ...extra }));
      if (page.traces.length !== expected) throw new Error(`${filter || "the search"} found ${page.traces.length} traces, not ${expected}`);
    });
  const all = await searchTraces("", Math.min(100, traces));
  const byTag = await searchTraces("tags.topic = 'math' AND trace.status = 'OK'", Math.min(100, Math.ceil(traces / 3) - Math.ceil(traces / 60)));
  const bySpan = await searchTraces("span.name = 'rerank'", Math.min(100, Math.ceil(traces / 10)));
  const byText = await searchTraces("trace.text LIKE '%rerank%'", Math.min(100, Math.ceil(traces / 10)));
  const oldest = await searchTraces("", Math.min(100, traces), { order_by: ["timestamp_ms ASC"] });
  const runsPage = await bestMs(rounds, async () => {
    const page = await post("runs/search", { experiment_ids: [searchedRuns], max_results: 100 });
    if (page.runs.length !== Math.min(100, traces)) throw new Error(`runs/search found ${page.runs.length}`);
  });

  const rate = (n) => `${Math.round(n).toLocaleString("en")} /s`;
  console.log(`${traces.toLocaleString("en")} traces (StartTraceV3 + a ${spansOf(0).length.toLocaleString("en")}-byte spans' file each), ${IN_FLIGHT} in flight`);
  console.log(`traces logged            ${rate(logged.perSecond)}   p50 ${logged.p50.toFixed(1)} ms  p99 ${logged.p99.toFixed(1)} ms`);
  console.log(`two runs/log-metric      ${rate(baseline.perSecond)}   p50 ${baseline.p50.toFixed(1)} ms  p99 ${baseline.p99.toFixed(1)} ms`);
  console.log(`ratio traces / log-metric pairs: ${(logged.perSecond / baseline.perSecond).toFixed(2)}`);
  console.log(`OTLP (protobuf, a request a trace) ${rate(otlp.perSecond)}   p50 ${otlp.p50.toFixed(1)} ms  p99 ${otlp.p99.toFixed(1)} ms`);
  console.log(`one runs/log-metric      ${rate(single.perSecond)}   p50 ${single.p50.toFixed(1)} ms  p99 ${single.p99.toFixed(1)} ms`);
  console.log(`ratio OTLP traces / log-metric calls: ${(otlp.perSecond / single.perSecond).toFixed(2)}`);
  console.log(`best of ${rounds}, first page of 100:`);
  console.log(`search_traces, unfiltered        ${all.toFixed(1)} ms`);
  console.log(`search_traces, by tag and status ${byTag.toFixed(1)} ms`);
  console.log(`search_traces, by span name      ${bySpan.toFixed(1)} ms`);
  console.log(`search_traces, by the spans' text ${byText.toFixed(1)} ms (reads spans' files, newest first, until the page is full)`);
  console.log(`search_traces, oldest first      ${oldest.toFixed(1)} ms`);
  console.log(`runs/search of ${traces.toLocaleString("en")} runs          ${runsPage.toFixed(1)} ms`);
  console.log(`ratio search_traces / runs/search: unfiltered ${(all / runsPage).toFixed(2)}, oldest first ${(oldest / runsPage).toFixed(2)}, by tag ${(byTag / runsPage).toFixed(2)}, by span ${(bySpan / runsPage).toFixed(2)}, by text ${(byText / runsPage).toFixed(2)}`);
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}

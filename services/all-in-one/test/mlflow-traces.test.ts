import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { embeddedServer } from "./embedded-server.js";
import { cli, unique } from "./helpers.js";
import { mlflowRest, type Body } from "./mlflow-rest.js";

/**
 * MLflow 3's tracing API as its 3.6 client calls it (rest_store.py, MlflowV3SpanExporter):
 * StartTraceV3 when a traced call ends, then the spans uploaded as `traces.json` to the
 * artifact location the server names; searches, tags, assessments and deletes after.
 */
describe("MLflow's tracing API on an embedded server", () => {
  const server = embeddedServer("mlflow-traces");
  const { get, post, send, ok, putArtifact } = mlflowRest(() => server.url);
  const { kiln, kilnFails } = cli(() => server.url);
  const newExperiment = async () => (await ok(post("mlflow/experiments/create", { name: unique("traces") }))).experiment_id as string;
  const newTraceId = () => `tr-${unique("t").replace(/[^a-z0-9]/g, "")}`;

  /** A trace's info as the client sends it when a traced call ends. */
  const traceInfo = (experimentId: string, traceId: string, extra: Body = {}) => ({
    trace_id: traceId,
    trace_location: { type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } },
    request_time: "2026-12-06T08:28:03.671Z",
    execution_duration: "0.090s",
    state: "OK",
    trace_metadata: { "mlflow.source.type": "LOCAL", "mlflow.traceInputs": '{"question": "what is six times seven?"}', "mlflow.trace_schema.version": "3" },
    tags: { "mlflow.traceName": "answer", "mlflow.user": "ana" },
    request_preview: '{"question": "what is six times seven?"}',
    response_preview: '"42"',
    ...extra,
  });
  const startTrace = (experimentId: string, traceId: string, extra: Body = {}) => post("3.0/mlflow/traces", { trace: { trace_info: traceInfo(experimentId, traceId, extra) } });
  /** Spans as MLflow's Span.to_dict writes them. */
  type SpanSketch = { name: string; type: string; inputs?: unknown; status?: string };
  const spansJson = (spans: SpanSketch[]) =>
    JSON.stringify({
      spans: spans.map((s, i) => ({
        trace_id: "AAAA",
        span_id: `span${i}`,
        parent_span_id: i ? "span0" : null,
        name: s.name,
        start_time_unix_nano: 1_796_545_683_671_000_000 + i,
        end_time_unix_nano: 1_796_545_683_761_000_000,
        events: [],
        status: { code: `STATUS_CODE_${s.status ?? "OK"}`, message: "" },
        attributes: { "mlflow.spanType": JSON.stringify(s.type), "mlflow.spanInputs": JSON.stringify(s.inputs ?? {}) },
      })),
    });
  const logTrace = async (experimentId: string, extra: Body = {}, spans: SpanSketch[] = [{ name: "answer", type: "CHAIN" }]) => {
    const traceId = newTraceId();
    const info = (await ok(startTrace(experimentId, traceId, extra))).trace.trace_info;
    await putArtifact(info.tags["mlflow.artifactLocation"] as string, "traces.json", spansJson(spans));
    return traceId;
  };
  const search = async (experimentId: string, fields: Body = {}) => {
    const { traces, next_page_token } = await ok(post("3.0/mlflow/traces/search", { locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } }], ...fields }));
    return { ids: ((traces ?? []) as { trace_id: string }[]).map((t) => t.trace_id), next: next_page_token as string | undefined };
  };

  it("keeps a trace's info and spans as the client logs them, reads them back, and takes a retried start and tag changes", async () => {
    const experimentId = await newExperiment();
    const traceId = newTraceId();
    const info = (await ok(startTrace(experimentId, traceId))).trace.trace_info;
    const location = `mlflow-artifacts:/${experimentId}/traces/${traceId}/artifacts`;
    expect(info).toEqual({ ...traceInfo(experimentId, traceId), assessments: [], tags: { "mlflow.traceName": "answer", "mlflow.user": "ana", "mlflow.artifactLocation": location } });
    const spans = spansJson([{ name: "answer", type: "CHAIN" }, { name: "retrieve", type: "RETRIEVER" }]);
    await putArtifact(location, "traces.json", spans);
    const file = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${experimentId}/traces/${traceId}/artifacts/traces.json`, server.url));
    expect(await file.text()).toBe(spans);
    expect((await ok(get(`3.0/mlflow/traces/${traceId}`, { trace_id: traceId }))).trace.trace_info).toEqual(info);

    // Tags by the 2.0 paths the client uses; the artifact location is the server's.
    const tag = (method: string, body: Body) => send(method, `mlflow/traces/${traceId}/tags`, body);
    await ok(tag("PATCH", { key: "reviewed", value: "yes" }));
    // A retried start (the exporter retries for minutes) replaces the info and keeps what came since.
    await ok(startTrace(experimentId, traceId, { execution_duration: "0.091s", request_time: "2026-12-06T08:28:04.000Z", tags: { "mlflow.traceName": "answer" } }));
    const again = (await ok(get(`3.0/mlflow/traces/${traceId}`))).trace.trace_info;
    // Its start time, which orders the experiment's traces, stays the first one's.
    expect(again).toMatchObject({ execution_duration: "0.091s", request_time: "2026-12-06T08:28:03.671Z", tags: { reviewed: "yes", "mlflow.user": "ana", "mlflow.traceName": "answer" } });
    expect((await search(experimentId)).ids).toEqual([traceId]);
    expect(await (await fetch(file.url)).text()).toBe(spans);
    await ok(tag("DELETE", { key: "reviewed" }));
    expect((await ok(get(`3.0/mlflow/traces/${traceId}`))).trace.trace_info.tags.reviewed).toBeUndefined();

    const refused = async (reply: Promise<{ status: number; body: Body }>, status: number, code: string) => expect([(await reply).status, (await reply).body.error_code]).toEqual([status, code]);
    await refused(tag("DELETE", { key: "reviewed" }), 404, "RESOURCE_DOES_NOT_EXIST");
    await refused(tag("PATCH", { key: "mlflow.artifactLocation", value: "s3://elsewhere" }), 400, "INVALID_PARAMETER_VALUE");
    await refused(tag("PATCH", { key: "long", value: "x".repeat(8001) }), 400, "INVALID_PARAMETER_VALUE");
    await refused(get("3.0/mlflow/traces/tr-missing"), 404, "RESOURCE_DOES_NOT_EXIST");
    await refused(startTrace(await newExperiment(), traceId), 400, "RESOURCE_ALREADY_EXISTS"); // one id, one experiment
    await refused(startTrace("no-such-experiment", newTraceId()), 404, "RESOURCE_DOES_NOT_EXIST");
    await refused(startTrace(experimentId, newTraceId(), { execution_duration: "soon" }), 400, "INVALID_PARAMETER_VALUE");
    await refused(startTrace(experimentId, "tr/../x"), 400, "INVALID_PARAMETER_VALUE");
    await refused(post("3.0/mlflow/traces", { trace: {} }), 400, "INVALID_PARAMETER_VALUE");
    await refused(get("3.0/mlflow/traces/get", { trace_id: traceId }), 404, "RESOURCE_DOES_NOT_EXIST"); // span logging to the tracking store is not served
    // A spans' file over 4 MiB is kept as a blob (a smaller one as a document): read the same either way.
    const bigId = newTraceId();
    const big = (await ok(startTrace(experimentId, bigId))).trace.trace_info.tags["mlflow.artifactLocation"] as string;
    const bigSpans = spansJson([{ name: "summarize", type: "LLM", inputs: { document: "x".repeat(5 * 1024 * 1024) } }]);
    await putArtifact(big, "traces.json", bigSpans);
    expect(await (await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${big.slice("mlflow-artifacts:/".length)}/traces.json`, server.url))).text()).toBe(bigSpans);
    expect((await search(experimentId, { filter: "span.type = 'LLM'" })).ids).toEqual([bigId]);
    const wrongPlace = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${await newExperiment()}/traces/${traceId}/artifacts/traces.json`, server.url), { method: "PUT", body: "{}" });
    expect(wrongPlace.status).toBe(404);
  });

  it("searches traces by attributes, tags, metadata, runs, spans and assessments, newest first, in pages", async () => {
    const experimentId = await newExperiment();
    const runId = (await ok(post("mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now() }))).run.info.run_id as string;
    const first = await logTrace(experimentId, { request_time: "2026-12-06T08:00:00.000Z", tags: { "mlflow.traceName": "answer", topic: "math" } }, [
      { name: "answer", type: "CHAIN", inputs: { question: "six times seven" } },
      { name: "retrieve", type: "RETRIEVER" },
    ]);
    const failed = await logTrace(experimentId, { request_time: "2026-12-06T09:00:00.000Z", state: "ERROR", tags: { "mlflow.traceName": "broken" } }, [{ name: "broken", type: "UNKNOWN", status: "ERROR" }]);
    const inRun = await logTrace(experimentId, { request_time: "2026-12-06T10:00:00.000Z", trace_metadata: { "mlflow.source.type": "LOCAL", "mlflow.sourceRun": runId }, tags: { "mlflow.traceName": "answer", topic: "art" } });
    const linked = await logTrace(experimentId, { request_time: "2026-12-06T07:00:00.000Z", execution_duration: "2.500s" });
    await ok(post("mlflow/traces/link-to-run", { trace_ids: [linked], run_id: runId }));

    expect((await search(experimentId)).ids).toEqual([inRun, failed, first, linked]);
    const filtered = async (filter: string) => (await search(experimentId, { filter })).ids;
    expect(await filtered("trace.status = 'OK'")).toEqual([inRun, first, linked]);
    expect(await filtered("status = 'ERROR'")).toEqual([failed]);
    expect(await filtered(`timestamp_ms > ${Date.parse("2026-12-06T08:30:00Z")}`)).toEqual([inRun, failed]);
    expect(await filtered("execution_time_ms >= 2000")).toEqual([linked]);
    expect(await filtered("tags.topic = 'math'")).toEqual([first]);
    expect(await filtered("tags.topic LIKE '%a%' AND trace.name = 'answer'")).toEqual([inRun, first]);
    expect(await filtered("name RLIKE '^bro'")).toEqual([failed]);
    expect(await filtered("metadata.`mlflow.source.type` = 'LOCAL'")).toHaveLength(4);
    expect(await filtered(`run_id = '${runId}'`)).toEqual([inRun, linked]);
    expect(await filtered("span.name = 'retrieve'")).toEqual([first]);
    expect(await filtered("span.type = 'RETRIEVER' AND tags.topic = 'math'")).toEqual([first]);
    expect(await filtered("span.status = 'ERROR'")).toEqual([failed]);
    expect(await filtered("trace.text LIKE '%six times seven%'")).toEqual([first]);
    // Newest first, the spans are read in key order until the page is full; in another order, of every trace the other clauses keep.
    expect(await search(experimentId, { max_results: 1, filter: "trace.text LIKE '%six times seven%'" })).toEqual({ ids: [first], next: undefined });
    expect((await search(experimentId, { filter: "trace.text LIKE '%six times seven%' AND tags.topic = 'math'", order_by: ["timestamp_ms ASC"] })).ids).toEqual([first]);
    expect((await search(experimentId, { order_by: ["timestamp_ms ASC"] })).ids).toEqual([linked, first, failed, inRun]);
    expect((await search(experimentId, { order_by: ["execution_time_ms DESC"] })).ids[0]).toBe(linked);

    // Pages newest and oldest first (read in key order), and in another order (all read, then sorted).
    const page = await search(experimentId, { max_results: 3 });
    expect(page.ids).toEqual([inRun, failed, first]);
    expect(await search(experimentId, { max_results: 3, page_token: page.next })).toEqual({ ids: [linked], next: undefined });
    const oldest = await search(experimentId, { max_results: 3, order_by: ["timestamp_ms ASC"] });
    expect(oldest.ids).toEqual([linked, first, failed]);
    expect(await search(experimentId, { max_results: 3, order_by: ["timestamp_ms ASC"], page_token: oldest.next })).toEqual({ ids: [inRun], next: undefined });
    const filteredPage = await search(experimentId, { max_results: 1, filter: "trace.status = 'OK'" });
    expect(filteredPage.ids).toEqual([inRun]);
    expect((await search(experimentId, { max_results: 2, filter: "trace.status = 'OK'", page_token: filteredPage.next })).ids).toEqual([first, linked]);
    expect((await post("3.0/mlflow/traces/search", { locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } }], filter: "trace.status = 'ERROR'", page_token: filteredPage.next })).status).toBe(400); // a token is its filter's

    const bad = async (fields: Body) => {
      const reply = await post("3.0/mlflow/traces/search", { locations: [{ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } }], ...fields });
      expect([reply.status, reply.body.error_code], JSON.stringify(reply.body)).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    };
    await bad({ filter: "metrics.rmse < 1" });
    await bad({ filter: "span.inputs = 'x'" });
    await bad({ filter: "name RLIKE '('" });
    await bad({ filter: "timestamp_ms > 'yesterday'" });
    await bad({ max_results: 501 });
    await bad({ order_by: ["tags.topic"] });
    const linkUnknown = await post("mlflow/traces/link-to-run", { trace_ids: [first, "tr-missing"], run_id: runId });
    expect(linkUnknown.status).toBe(404);
    expect(await filtered(`run_id = '${runId}'`)).toEqual([inRun, linked]); // nothing linked by the refused call
  });

  it("keeps assessments: feedback and expectations, changed by a mask, overridden and restored, and searched", async () => {
    const experimentId = await newExperiment();
    const traceId = await logTrace(experimentId);
    const base = "3.0/mlflow/traces/" + traceId + "/assessments";
    const human = { source_type: "HUMAN", source_id: "ana@example.com" };
    const feedback = (await ok(post(base, { assessment: { assessment_name: "relevance", trace_id: traceId, source: human, create_time: "2026-12-06T08:28:04.186Z", last_update_time: "2026-12-06T08:28:04.186Z", feedback: { value: true }, rationale: "on topic" } }))).assessment;
    expect(feedback).toMatchObject({ assessment_id: expect.stringMatching(/^a-[0-9a-f]{32}$/), assessment_name: "relevance", trace_id: traceId, feedback: { value: true }, valid: true, create_time: "2026-12-06T08:28:04.186Z" });
    const expectation = (await ok(post(base, { assessment: { assessment_name: "answer", source: human, expectation: { value: "42" } } }))).assessment;
    expect((await ok(get(`${base}/${feedback.assessment_id}`))).assessment).toEqual(feedback);

    // update_assessment sends the mask as the client's JSON writes a FieldMask: camelCase, comma-separated.
    const updated = (await ok(send("PATCH", `${base}/${expectation.assessment_id}`, { assessment: { assessment_id: expectation.assessment_id, assessment_name: "answer", trace_id: traceId, expectation: { value: "forty-two" } }, update_mask: "assessmentName,expectation" }))).assessment;
    expect(updated).toMatchObject({ expectation: { value: "forty-two" }, source: human, create_time: expectation.create_time });
    const wrongKind = await send("PATCH", `${base}/${expectation.assessment_id}`, { assessment: { feedback: { value: 1 } }, update_mask: "feedback" });
    expect(wrongKind.status).toBe(400);

    const override = (await ok(post(base, { assessment: { assessment_name: "relevance", source: { source_type: "CODE", source_id: "default" }, feedback: { value: false }, overrides: feedback.assessment_id } }))).assessment;
    const byId = async () => Object.fromEntries(((await ok(get(`3.0/mlflow/traces/${traceId}`))).trace.trace_info.assessments as Body[]).map((a) => [a.assessment_id, a]));
    expect((await byId())[feedback.assessment_id as string]).toMatchObject({ valid: false });
    expect((await search(experimentId, { filter: "feedback.relevance = 'false'" })).ids).toEqual([traceId]);
    expect((await search(experimentId, { filter: "feedback.relevance = 'true'" })).ids).toEqual([]);
    expect((await search(experimentId, { filter: "expectation.answer = 'forty-two'" })).ids).toEqual([traceId]);

    await ok(send("DELETE", `${base}/${override.assessment_id}`, { trace_id: traceId, assessment_id: override.assessment_id }));
    const after = await byId();
    expect(Object.keys(after).sort()).toEqual([feedback.assessment_id, expectation.assessment_id].sort());
    expect(after[feedback.assessment_id as string]).toMatchObject({ valid: true });
    expect((await get(`${base}/${override.assessment_id}`)).status).toBe(404);
    expect((await post(base, { assessment: { assessment_name: "x", feedback: { value: 1 }, overrides: "a-missing" } })).status).toBe(404);
    expect((await post(base, { assessment: { assessment_name: "x" } })).status).toBe(400);
  });

  it("shows the traces to Kiln's SDK (ListTraces, GetTrace) and CLI: spans as a tree, assessments, the runs as Kiln's", async () => {
    const experimentId = await newExperiment();
    const runId = (await ok(post("mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now() }))).run.info.run_id as string;
    const older = await logTrace(experimentId, { request_time: "2026-12-06T08:00:00Z", state: "ERROR", tags: { "mlflow.traceName": "broken" } }, [{ name: "broken", type: "UNKNOWN", status: "ERROR" }]);
    const traceId = await logTrace(experimentId, { request_time: "2026-12-06T09:00:00Z", trace_metadata: { "mlflow.sourceRun": runId } }, [
      { name: "answer", type: "CHAIN", inputs: { question: "six times seven" } },
      { name: "retrieve", type: "RETRIEVER", inputs: { query: "six" } },
    ]);
    await ok(post(`3.0/mlflow/traces/${traceId}/assessments`, { assessment: { assessment_name: "relevance", source: { source_type: "HUMAN", source_id: "ana" }, feedback: { value: true }, rationale: "on topic" } }));

    const exp = server.kiln.experiment(experimentId);
    const listed = await exp.traces();
    expect(listed.map((t) => [t.traceId, t.state])).toEqual([[traceId, "OK"], [older, "ERROR"]]);
    expect(listed[0]).toMatchObject({ name: `projects/default/experiments/${experimentId}/traces/${traceId}`, executionMs: 90, request: '{"question": "what is six times seven?"}', runs: [`projects/default/experiments/${experimentId}/runs/1`], requestTime: new Date("2026-12-06T09:00:00Z") });
    expect(listed[0]!.assessments).toMatchObject([{ kind: "feedback", name: "relevance", value: true, rationale: "on topic", source: "HUMAN:ana", valid: true }]);
    expect((await exp.traces({ filter: "trace.status = 'ERROR'" })).map((t) => t.traceId)).toEqual([older]);
    expect((await exp.traces({ orderBy: ["timestamp_ms ASC"], limit: 1 })).map((t) => t.traceId)).toEqual([older]);
    const detail = await exp.trace(traceId);
    expect(detail.spans.map((sp) => [sp.name, sp.type, sp.status, sp.parentSpanId])).toEqual([["answer", "CHAIN", "OK", ""], ["retrieve", "RETRIEVER", "OK", "span0"]]);
    expect(detail.spans[0]).toMatchObject({ inputs: { question: "six times seven" }, startTime: expect.any(Date), endTime: expect.any(Date) });
    await expect(exp.trace("tr-missing")).rejects.toMatchObject({ name: "NotFoundError" });
    await expect(exp.traces({ filter: "metrics.x > 1" })).rejects.toMatchObject({ name: "InvalidArgumentError" });
    await expect(server.kiln.experiment("no-such-experiment").traces()).rejects.toMatchObject({ name: "NotFoundError" });

    expect(await kiln("traces", experimentId)).toMatch(new RegExp(`${traceId}\\s+2026-12-06T09:00:00Z\\s+OK\\s+90\\s+answer\\s+\\{"question": "what is six times seven\\?"\\}\\s+1\\n${older}\\s+\\S+\\s+ERROR`));
    const shown = await kiln("traces:show", experimentId, traceId);
    expect(shown).toContain("feedback relevance = true by HUMAN:ana: on topic");
    expect(shown).toMatch(/spans:\n {2}answer \[CHAIN\] 90 ms\n {4}in: {2}\{"question":"six times seven"\}\n {4}retrieve \[RETRIEVER\] 90 ms\n {6}in: {2}\{"query":"six"\}\n/);
    expect((await kilnFails("traces", experimentId, "--filter", "span.inputs = 'x'")).stderr).toMatch(/spans are searched by name, type, status, content/);
  });

  it("serves MLflow 2's trace API (its clients from 2.14 to 2.21): started and ended, read, searched", async () => {
    const experimentId = await newExperiment();
    const started = (await ok(post("mlflow/traces", { experiment_id: experimentId, timestamp_ms: 1_796_545_683_000, request_metadata: [{ key: "mlflow.traceInputs", value: '{"q": 1}' }], tags: [{ key: "mlflow.traceName", value: "answer" }] }))).trace_info;
    const requestId = started.request_id as string;
    expect(requestId).toMatch(/^tr-[0-9a-f]{32}$/);
    const location = { key: "mlflow.artifactLocation", value: `mlflow-artifacts:/${experimentId}/traces/${requestId}/artifacts` };
    expect(started).toEqual({ request_id: requestId, experiment_id: experimentId, timestamp_ms: 1_796_545_683_000, status: "IN_PROGRESS", request_metadata: [{ key: "mlflow.traceInputs", value: '{"q": 1}' }], tags: [{ key: "mlflow.traceName", value: "answer" }, location] });
    await putArtifact(location.value, "traces.json", spansJson([{ name: "answer", type: "CHAIN" }]));
    const ended = (await ok(send("PATCH", `mlflow/traces/${requestId}`, { request_id: requestId, timestamp_ms: 1_796_545_683_250, status: "OK", request_metadata: [{ key: "mlflow.traceOutputs", value: "42" }], tags: [{ key: "topic", value: "math" }] }))).trace_info;
    expect(ended).toMatchObject({ status: "OK", execution_time_ms: 250, request_metadata: [{ key: "mlflow.traceInputs", value: '{"q": 1}' }, { key: "mlflow.traceOutputs", value: "42" }] });
    expect(ended.tags).toEqual(expect.arrayContaining([{ key: "topic", value: "math" }, location]));
    expect((await ok(get(`mlflow/traces/${requestId}/info`, { request_id: requestId }))).trace_info).toEqual(ended);
    // The same trace through MLflow 3's API and Kiln's.
    expect((await ok(get(`3.0/mlflow/traces/${requestId}`))).trace.trace_info).toMatchObject({ state: "OK", execution_duration: "0.250s" });
    expect((await server.kiln.experiment(experimentId).trace(requestId)).spans.map((sp) => sp.name)).toEqual(["answer"]);

    const searched = await ok(get("mlflow/traces", { experiment_ids: experimentId, filter: "tags.topic = 'math'", max_results: "10" }));
    expect(searched).toEqual({ traces: [ended] });
    expect((await get("mlflow/traces", {})).status).toBe(400);
    expect((await send("PATCH", `mlflow/traces/${requestId}`, { timestamp_ms: 1, status: "DONE" })).status).toBe(400);
    expect((await send("PATCH", "mlflow/traces/tr-missing", { timestamp_ms: 1, status: "OK" })).status).toBe(404);
    expect((await get("mlflow/traces/tr-missing/info")).status).toBe(404);
  });

  it("takes spans from OpenTelemetry's own exporters (OTLP over HTTP, protobuf and JSON), a trace growing with each export", async () => {
    const experimentId = await newExperiment();
    for (const Exporter of [OtlpProtobufExporter, OtlpJsonExporter]) {
      const exporter = new Exporter({ url: new URL("/v1/traces", server.url).href, headers: { "x-mlflow-experiment-id": experimentId } });
      const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ "service.name": "rag-app" }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
      const tracer = provider.getTracer("bench");
      // The child ends (and is exported) before its parent: the trace grows with the second export.
      const root = tracer.startSpan("answer", { attributes: { "mlflow.spanType": '"CHAIN"', "mlflow.spanInputs": '{"question": "six times seven"}' } });
      const child = tracer.startSpan("chat", { attributes: { "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 12, "mlflow.spanType": '"CHAT_MODEL"' } }, trace.setSpan(context.active(), root));
      child.setStatus({ code: SpanStatusCode.ERROR, message: "rate limited" });
      child.end();
      root.end();
      await provider.forceFlush();
      await provider.shutdown();
      const traceId = `tr-${root.spanContext().traceId}`;

      const info = (await ok(get(`3.0/mlflow/traces/${traceId}`))).trace.trace_info;
      expect(info).toMatchObject({ trace_location: { mlflow_experiment: { experiment_id: experimentId } }, state: "OK", request_preview: '{"question": "six times seven"}', tags: { "mlflow.traceName": "answer" }, trace_metadata: { "otel.service.name": "rag-app" } });
      const detail = await server.kiln.experiment(experimentId).trace(traceId);
      const [answer, chat] = [...detail.spans].sort((x, y) => x.name.localeCompare(y.name));
      expect([answer, chat].map((sp) => [sp!.name, sp!.type, sp!.status, sp!.statusMessage])).toEqual([["answer", "CHAIN", "UNSET", ""], ["chat", "CHAT_MODEL", "ERROR", "rate limited"]]);
      expect(chat!.parentSpanId).toBe(answer!.spanId);
      expect(chat!.attributes).toMatchObject({ "gen_ai.system": "openai", "gen_ai.usage.input_tokens": 12, "mlflow.traceRequestId": traceId });
      expect((await search(experimentId, { filter: "span.status = 'ERROR' AND span.type = 'CHAT_MODEL'" })).ids).toContain(traceId);
    }
    expect((await search(experimentId)).ids).toHaveLength(2);

    const otlp = (body: string | Uint8Array, type: string, project = "") => fetch(new URL(`${project}/v1/traces`, server.url), { method: "POST", headers: { "content-type": type, "x-mlflow-experiment-id": experimentId }, body });
    expect((await otlp("not protobuf at all", "application/x-protobuf")).status).toBe(400);
    expect((await otlp("{}", "text/plain")).status).toBe(400);
    const shortIds = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: "abcd", spanId: "0102030405060708", name: "x", startTimeUnixNano: "1", endTimeUnixNano: "2" }] }] }] };
    expect((await otlp(JSON.stringify(shortIds), "application/json")).status).toBe(400);
    expect((await otlp("{}", "application/json", "/projects/no-such-project")).status).toBe(404);
    expect((await search(experimentId)).ids).toHaveLength(2); // the refused requests stored nothing
  });

  it("keeps a trace whose spans outgrow a document (4 MiB) as OpenTelemetry's exports add to it", async () => {
    const experimentId = await newExperiment();
    const traceId = "5b8aa5a2d2c872e8321cf37308d69df2";
    const span = (spanId: string, name: string, inputs: string, parent?: string) => ({
      traceId,
      spanId,
      ...(parent && { parentSpanId: parent }),
      name,
      startTimeUnixNano: "1765000000000000000",
      endTimeUnixNano: "1765000001000000000",
      attributes: [{ key: "mlflow.spanInputs", value: { stringValue: JSON.stringify(inputs) } }],
    });
    const exportSpans = async (...spans: object[]) => {
      const res = await fetch(new URL("/v1/traces", server.url), { method: "POST", headers: { "content-type": "application/json", "x-mlflow-experiment-id": experimentId }, body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }) });
      expect(res.status, await res.clone().text()).toBe(200);
    };
    const page = (letter: string) => letter.repeat(3 * 1024 * 1024);
    await exportSpans(span("0000000000000001", "retrieve", page("a"), "00000000000000ff"));
    await exportSpans(span("0000000000000002", "rerank", page("b"), "00000000000000ff")); // 6 MiB: now in blobs
    await exportSpans(span("00000000000000ff", "answer", "six times seven")); // the root, last
    const id = `tr-${traceId}`;
    const detail = await server.kiln.experiment(experimentId).trace(id);
    expect(detail.spans.map((sp) => [sp.name, JSON.stringify(sp.inputs).length]).sort()).toEqual([["answer", 17], ["rerank", 3 * 1024 * 1024 + 2], ["retrieve", 3 * 1024 * 1024 + 2]]);
    expect((await ok(get(`3.0/mlflow/traces/${id}`))).trace.trace_info).toMatchObject({ tags: { "mlflow.traceName": "answer" }, request_preview: '"six times seven"' });
    expect((await search(experimentId, { filter: "span.name = 'rerank'" })).ids).toEqual([id]);
    const file = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${experimentId}/traces/${id}/artifacts/traces.json`, server.url));
    expect(JSON.parse(await file.text()).spans).toHaveLength(3);
  });

  it("searches several experiments' traces at once, newest or oldest first, in pages that go on where they left off", async () => {
    const [a, b] = [await newExperiment(), await newExperiment()];
    const day = (d: number) => `2026-12-0${d}T00:00:00Z`;
    const logged = [
      ...(await Promise.all([1, 3, 5, 5].map(async (d) => ({ id: await logTrace(a, { request_time: day(d) }), t: Date.parse(day(d)) })))),
      ...(await Promise.all([2, 4, 5, 6].map(async (d) => ({ id: await logTrace(b, { request_time: day(d) }), t: Date.parse(day(d)) })))),
    ];
    const locations = [a, b].map((experiment_id) => ({ type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id } }));
    const pages = async (fields: Body, max_results: number) => {
      const ids: string[] = [];
      let page_token: string | undefined;
      do {
        const reply = await ok(post("3.0/mlflow/traces/search", { locations, max_results, ...fields, ...(page_token && { page_token }) }));
        ids.push(...((reply.traces ?? []) as { trace_id: string }[]).map((t) => t.trace_id));
        page_token = reply.next_page_token;
      } while (page_token);
      return ids;
    };
    // Three traces start on day 5: the newest first order puts the greater id first, the oldest first the lesser.
    const newest = [...logged].sort((x, y) => y.t - x.t || (x.id < y.id ? 1 : -1)).map((x) => x.id);
    for (const size of [1, 3, 100]) {
      expect(await pages({}, size), `newest first, pages of ${size}`).toEqual(newest);
      expect(await pages({ order_by: ["timestamp_ms ASC"] }, size), `oldest first, pages of ${size}`).toEqual([...newest].reverse());
    }
    expect(await pages({ filter: "trace.status = 'OK'", order_by: ["timestamp_ms DESC"] }, 2)).toEqual(newest);
  });

  it("deletes traces by id, the oldest up to a time, and with their experiment", async () => {
    const experimentId = await newExperiment();
    const times = ["2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z"];
    const [oldest, older, newer, newest] = await Promise.all(times.map((t) => logTrace(experimentId, { request_time: t })));
    const del = (body: Body) => post("mlflow/traces/delete-traces", { experiment_id: experimentId, ...body });
    expect((await ok(del({ request_ids: [newest, "tr-missing"] }))).traces_deleted).toBe(1);
    expect((await ok(del({ max_timestamp_millis: Date.parse(times[2]!), max_traces: 1 }))).traces_deleted).toBe(1);
    expect((await search(experimentId)).ids).toEqual([newer, older]);
    expect((await get(`3.0/mlflow/traces/${oldest}`)).status).toBe(404);
    expect((await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${experimentId}/traces/${oldest}/artifacts/traces.json`, server.url))).status).toBe(404);
    expect((await del({})).status).toBe(400);
    expect((await del({ request_ids: [older], max_timestamp_millis: 1 })).status).toBe(400);
    expect((await del({ request_ids: [older], max_traces: 1 })).status).toBe(400);

    // Deleted by MLflow's API, the experiment keeps its traces (readable, as MLflow's server keeps them until gc) and takes no new one.
    await ok(post("mlflow/experiments/delete", { experiment_id: experimentId }));
    expect((await ok(get(`3.0/mlflow/traces/${older}`))).trace.trace_info.trace_id).toBe(older);
    const refused = await startTrace(experimentId, newTraceId());
    expect([refused.status, refused.body.message]).toEqual([400, `The experiment ${experimentId} must be in the 'active' state. Current state is deleted.`]);
    const otlp = await fetch(new URL("/v1/traces", server.url), { method: "POST", headers: { "content-type": "application/json", "x-mlflow-experiment-id": experimentId }, body: JSON.stringify({ resourceSpans: [] }) });
    expect(otlp.status).toBe(400);
    // Dropped by Kiln's API, they go with it, and an id is free again, in another experiment.
    await server.kiln.experiments.drop(experimentId);
    expect((await get(`3.0/mlflow/traces/${older}`)).status).toBe(404);
    await ok(startTrace(await newExperiment(), older));
  });
});

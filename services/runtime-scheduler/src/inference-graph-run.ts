import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { codeName } from "@kiln/contracts";
import { failedPrecondition, invalidArgument, isKilnError, KilnError, printable } from "@kiln/core";
import {
  compileFilter,
  decodeChunk,
  FilterSyntaxError,
  interleaveRows,
  isNumberType,
  meanOfColumns,
  oneBatch,
  parseFilter,
  projectColumns,
  selectRows,
  sharedColumns,
  sideBySide,
  tableToIpc,
  voteOfColumns,
  withColumnsOf,
} from "@kiln/data";
import {
  Combine,
  InferenceGraphStepAnswerSchema,
  InferenceGraphStepFailureSchema,
  PredictInferenceGraphResponseSchema,
  RouterType,
  StepData,
  StepDependency,
  type InferenceGraph,
  type InferenceGraphNode,
  type InferenceGraphStep,
  type InferenceGraphStepAnswer,
  type PredictInferenceGraphRequest,
  type PredictInferenceGraphResponse,
} from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { Table } from "apache-arrow";
import { servedInferenceGraph } from "./inference-graphs.js";
import { ROOT_NODE } from "./inference-graph-spec.js";
import type { Scheduler } from "./job-store.js";
import { rowsInRequest } from "./local-inputs.js";
import { answerRows, askDeployment, wantsJson } from "./online-predict.js";

/**
 * Rows on their way through the graph, as a table or as the Arrow IPC bytes they came in:
 * each form is made only when asked for, so rows that only pass through (a sequence's, a
 * split's) are never decoded or encoded here. `positional`: read as the model's features in order.
 */
class Rows {
  private constructor(
    private bytes: Uint8Array | undefined,
    private decoded: Table | undefined,
    readonly positional: boolean,
    private readonly count?: number,
  ) {}

  static ofTable(table: Table, positional = false): Rows {
    return new Rows(undefined, table, positional);
  }

  static ofIpc(ipc: Uint8Array, positional: boolean, numRows?: number): Rows {
    return new Rows(ipc, undefined, positional, numRows);
  }

  get table(): Table {
    return (this.decoded ??= requestTable(this.bytes!));
  }

  get ipc(): Uint8Array {
    return (this.bytes ??= tableToIpc(this.decoded!));
  }

  get numRows(): number {
    return this.count ?? this.table.numRows;
  }

  /** The same rows, read as the model's features in order. */
  inOrder(): Rows {
    return new Rows(this.bytes, this.decoded, true, this.count);
  }
}

interface Run {
  s: Scheduler;
  graph: InferenceGraph;
  deadline: number;
  answers: InferenceGraphStepAnswer[];
  /** SOFT steps that failed and were passed over. */
  passedOver: number;
}

/** Runs the request's rows through the graph from its root node (see PredictInferenceGraph). */
export async function predictInferenceGraph(s: Scheduler, req: PredictInferenceGraphRequest, callerTimeoutMs?: number): Promise<PredictInferenceGraphResponse> {
  return runGraph(s, req.name, callerTimeoutMs, async (run) => {
    if (req.input.case === undefined) throw invalidArgument("INPUT_REQUIRED", "the request has no rows: give data (JSON) or arrow_ipc");
    const { ipc, positionalColumns } = rowsInRequest(req.input);
    const input = Rows.ofIpc(ipc, positionalColumns.length > 0);
    const missing = req.keepColumns.length ? req.keepColumns.filter((c) => !input.table.getChild(c)) : [];
    if (missing.length) throw invalidArgument("UNKNOWN_COLUMN", `keep_columns: the rows have no column ${missing.map((c) => `"${printable(c)}"`).join(", ")}`);
    const output = await runNode(run, ROOT_NODE, input);
    const clash = req.keepColumns.filter((c) => output.table.getChild(c));
    if (clash.length) throw invalidArgument("KEEP_COLUMN_CLASH", `keep_columns: the graph answers a column ${clash.map((c) => `"${printable(c)}"`).join(", ")} itself`);
    const kept = req.keepColumns.length ? Rows.ofTable(withColumnsOf(new Table(projectColumns(oneBatch(input.table), req.keepColumns)), output.table)) : output;
    const rows = answerRows(kept.ipc, kept.numRows, wantsJson(req.encoding, req.input.case));
    return create(PredictInferenceGraphResponseSchema, { ...rows, steps: run.answers });
  });
}

/**
 * The graph's answer to rows given as a table (the Open Inference Protocol's tensors);
 * `positional`: read as the features of the models that take them, in order.
 */
export function inferenceGraphAnswer(s: Scheduler, name: string, rows: Table, positional: boolean, callerTimeoutMs?: number): Promise<Table> {
  return runGraph(s, name, callerTimeoutMs, async (run) => (await runNode(run, ROOT_NODE, Rows.ofTable(rows, positional))).table);
}

/** Runs `answer` on the graph the request names, within the request's time, counted in the graph's stats. */
async function runGraph<T>(s: Scheduler, name: string, callerTimeoutMs: number | undefined, answer: (run: Run) => Promise<T>): Promise<T> {
  const graph = await servedInferenceGraph(s, name);
  const start = performance.now();
  const run: Run = { s, graph, deadline: Date.now() + Math.max(1, Math.min(s.settings.predictTimeoutMs, callerTimeoutMs ?? Infinity)), answers: [], passedOver: 0 };
  try {
    const answered = await answer(run);
    s.graphStats.record(graph.name, performance.now() - start, { failed: false, passedOver: run.passedOver });
    return answered;
  } catch (e) {
    s.graphStats.record(graph.name, performance.now() - start, { failed: true, passedOver: 0 });
    throw e;
  }
}

function requestTable(ipc: Uint8Array): Table {
  try {
    return decodeChunk(ipc);
  } catch (e) {
    throw invalidArgument("INVALID_INPUT_DATA", `arrow_ipc is not an Arrow IPC stream: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function runNode(run: Run, name: string, rows: Rows): Promise<Rows> {
  const node = run.graph.nodes[name]!;
  switch (node.routerType) {
    case RouterType.SEQUENCE:
      return sequence(run, name, node, rows);
    case RouterType.SWITCH:
      return route(run, name, node, rows);
    case RouterType.ENSEMBLE:
      return ensemble(run, name, node, rows);
    case RouterType.SPLITTER:
      return runStep(run, name, pickByWeight(node.steps), rows);
    default:
      throw failedPrecondition("INVALID_GRAPH", `node ${name} has no router type`);
  }
}

async function sequence(run: Run, name: string, node: InferenceGraphNode, request: Rows): Promise<Rows> {
  let current = request;
  for (const step of node.steps) {
    const answer = await tryStep(run, name, step, stepRows(step.data, request, current));
    if (answer instanceof Rows) current = answer;
  }
  return current;
}

/**
 * What a sequence's step is given. An answer goes on as the next model's features in
 * order, whatever their names (a transformer's columns feed a predictor, as in a
 * Pipeline); beside the node's rows it goes by name.
 */
function stepRows(data: StepData, request: Rows, previous: Rows): Rows {
  if (data === StepData.REQUEST || previous === request) return request;
  if (data === StepData.RESPONSE_AND_REQUEST) return Rows.ofTable(withColumnsOf(previous.table, request.table));
  return previous.inOrder();
}

/** Each row to the first step whose condition it meets; the answers back in the rows' order. */
async function route(run: Run, name: string, node: InferenceGraphNode, rows: Rows): Promise<Rows> {
  const batch = oneBatch(rows.table);
  const taken = new Uint8Array(batch.numRows);
  const parts = node.steps.map((step) => {
    const meets = step.condition ? conditionRows(name, step, batch) : undefined;
    const picked: number[] = [];
    for (let i = 0; i < batch.numRows; i++) {
      if (taken[i] || (meets && !meets.has(i))) continue;
      taken[i] = 1;
      picked.push(i);
    }
    return { step, rows: Uint32Array.from(picked) };
  });
  const left = taken.indexOf(0);
  if (left >= 0) {
    throw failedPrecondition("NO_ROUTE", `node ${name}: row ${left + 1} meets no step's condition (${node.steps.map((s) => `${s.name}: ${s.condition}`).join("; ")}); add a step without one to take the rest`, { node: name });
  }
  const answered = await Promise.all(
    parts
      .filter((p) => p.rows.length)
      .map(async (p) => {
        const given = p.rows.length === batch.numRows ? rows : Rows.ofTable(new Table(selectRows(batch, p.rows)), rows.positional);
        return { rows: p.rows, table: sameRows(name, p.step, p.rows.length, (await runStep(run, name, p.step, given)).table) };
      }),
  );
  return Rows.ofTable(interleaveRows(batch.numRows, answered));
}

function conditionRows(node: string, step: InferenceGraphStep, batch: ReturnType<typeof oneBatch>): Set<number> {
  try {
    return new Set(compileFilter(parseFilter(step.condition), batch.schema)(batch));
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw invalidArgument("INVALID_INPUT_DATA", `node ${node}, step ${step.name}: condition ${printable(JSON.stringify(step.condition))} on these rows: ${e.message}`, { node, step: step.name });
    throw e;
  }
}

async function ensemble(run: Run, name: string, node: InferenceGraphNode, rows: Rows): Promise<Rows> {
  const results = await Promise.all(node.steps.map((step) => tryStep(run, name, step, rows)));
  const numRows = rows.numRows;
  const answered = node.steps.flatMap((step, i) => {
    const result = results[i]!;
    return result instanceof Rows ? [{ name: step.name, table: sameRows(name, step, numRows, result.table) }] : [];
  });
  if (!answered.length) throw results[0] as KilnError; // every step was SOFT and failed
  const tables = answered.map((a) => a.table);
  if (node.combine === Combine.UNSPECIFIED) return Rows.ofTable(sideBySide(numRows, answered));
  const mean = node.combine === Combine.MEAN;
  const columns = sharedColumns(tables, (types) => !mean || types.every(isNumberType));
  if (!columns.length) {
    const what = mean ? "column of numbers" : "column";
    throw failedPrecondition("NOTHING_TO_COMBINE", `node ${name}: no ${what} is in every step's answer (${answered.map((a) => `${a.name}: ${a.table.schema.fields.map((f) => f.name).join(", ")}`).join("; ")})`, { node: name });
  }
  return Rows.ofTable(mean ? meanOfColumns(numRows, tables, columns) : voteOfColumns(numRows, tables, columns));
}

/** An answer to be joined with others row by row has one row for each row it was given (a deployment's always has). */
function sameRows(node: string, step: InferenceGraphStep, given: number, table: Table): Table {
  if (table.numRows !== given) throw failedPrecondition("ROWS_MISMATCH", `node ${node}, step ${step.name} answered ${table.numRows} rows for ${given}`, { node, step: step.name });
  return table;
}

function pickByWeight(steps: readonly InferenceGraphStep[]): InferenceGraphStep {
  let at = Math.random() * 100;
  for (const step of steps) {
    at -= step.weight;
    if (at < 0) return step;
  }
  return steps[steps.length - 1]!;
}

/**
 * runStep, but a SOFT step's failure comes back as its error, recorded in the answer's steps,
 * rather than thrown. The request's own deadline is never passed over.
 */
async function tryStep(run: Run, node: string, step: InferenceGraphStep, rows: Rows): Promise<Rows | KilnError> {
  if (step.dependency !== StepDependency.SOFT) return runStep(run, node, step, rows);
  try {
    return await runStep(run, node, step, rows);
  } catch (e) {
    if (!passesOver(run, step, e)) throw e;
    // A deployment step's own entry says so (runStep); a node step gets one.
    if (step.target.case === "node") {
      run.answers.push(create(InferenceGraphStepAnswerSchema, { node, step: step.name, failure: failureOf(e.code, e.reason, e.message), passedOver: true }));
    }
    run.passedOver++;
    return e;
  }
}

function passesOver(run: Run, step: InferenceGraphStep, e: unknown): e is KilnError {
  return step.dependency === StepDependency.SOFT && isKilnError(e) && e.code !== Code.Canceled && Date.now() < run.deadline;
}

async function runStep(run: Run, node: string, step: InferenceGraphStep, rows: Rows): Promise<Rows> {
  if (step.target.case === "node") return runNode(run, step.target.value, rows);
  const deployment = step.target.value!;
  const answer = create(InferenceGraphStepAnswerSchema, { node, step: step.name, deployment });
  run.answers.push(answer);
  const left = run.deadline - Date.now();
  if (left <= 0) throw new KilnError(Code.DeadlineExceeded, "PREDICT_TIMEOUT", `inference graph ${run.graph.name} did not answer in time: node ${node}, step ${step.name} had not started`);
  try {
    const reply = await askDeployment(run.s, deployment, { rows: rows.ipc, kind: step.kind, positional: rows.positional, callerTimeoutMs: left });
    answer.modelVersion = reply.modelVersion;
    answer.rows = reply.rowCount;
    return Rows.ofIpc(reply.arrowIpc, false, Number(reply.rowCount));
  } catch (e) {
    if (!isKilnError(e)) throw e;
    const code = e.code === Code.NotFound && e.reason === "DEPLOYMENT_NOT_FOUND" ? Code.FailedPrecondition : e.code;
    answer.failure = failureOf(code, e.reason, e.message);
    answer.passedOver = passesOver(run, step, e);
    throw new KilnError(code, e.reason, `node ${node}, step ${step.name}: ${e.message}`, { ...e.metadata, node, step: step.name });
  }
}

function failureOf(code: Code, reason: string, message: string) {
  return create(InferenceGraphStepFailureSchema, { code: codeName(code), reason, message });
}

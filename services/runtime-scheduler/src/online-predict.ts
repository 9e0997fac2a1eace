import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { invalidArgument, isKilnError, KilnError, printable, resourceExhausted, unavailable, wantsJsonRows } from "@kiln/core";
import { decodeChunk, jsonRowPieces } from "@kiln/data";
import { codeOf, MAX_ONLINE_ROWS_BYTES } from "@kiln/contracts";
import { RowEncoding } from "@kiln/proto/kiln/common/v1/table_pb";
import {
  DeploymentState,
  PredictResponseSchema,
  ServeReplySchema,
  ServeRequestSchema,
  type Deployment,
  type PredictRequest,
  type PredictResponse,
  type ServeReply,
} from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { deploymentRoute, getDeployment, parseDeploymentName, readDeployment } from "./deployments.js";
import type { Scheduler } from "./job-store.js";
import { requestPrediction, wakeIfScaledToZero } from "./deployment-requests.js";
import { rowsInRequest } from "./local-inputs.js";
import { checkExplainParams, isDatasetRef } from "./input-checks.js";

const ONLINE_KINDS = new Set([JobKind.PREDICT, JobKind.PREDICT_PROBA, JobKind.TRANSFORM, JobKind.EXPLAIN]);

/**
 * Sends a Predict to the executors serving the deployment (by request/reply on its subject,
 * one of them answering) and gives back their rows, as Arrow or JSON.
 */
export async function predictOnline(s: Scheduler, req: PredictRequest, callerTimeoutMs?: number): Promise<PredictResponse> {
  parseDeploymentName(req.deployment);
  const kind = req.kind || JobKind.PREDICT;
  if (!ONLINE_KINDS.has(kind)) throw invalidArgument("INVALID_KIND", `kind must be PREDICT, PREDICT_PROBA, TRANSFORM or EXPLAIN, got ${JobKind[kind] ?? kind}`);
  const params = onlineParams(kind, req.params);
  const input = inputRows(req);
  const answer = await askDeployment(s, req.deployment, { rows: input.rows, kind, keepColumns: req.keepColumns, positional: input.positional || req.positional, params, callerTimeoutMs });
  const rows = answerRows(answer.arrowIpc, answer.rowCount, wantsJson(req.encoding, req.input.case));
  return create(PredictResponseSchema, { modelVersion: answer.modelVersion, executor: answer.executor, ...rows });
}

/** An answer's rows in JSON when asked so, or when the request's rows came as JSON and no encoding was asked. */
export function wantsJson(encoding: RowEncoding, inputCase: "data" | "arrowIpc" | undefined): boolean {
  return encoding === RowEncoding.UNSPECIFIED ? inputCase === "data" : wantsJsonRows(encoding);
}

/** Rows as a response carries them: an Arrow chunk, or JSON rows. */
export function answerRows(arrowIpc: Uint8Array, rowCount: number | bigint, json: boolean): { chunk: { arrowIpc: Uint8Array; rowCount: bigint } } | { json: { columns: string[]; rows: JsonObject[] } } {
  if (!json) return { chunk: { arrowIpc, rowCount: BigInt(rowCount) } };
  const table = decodeChunk(arrowIpc);
  const rows = [];
  for (const piece of jsonRowPieces(table.batches)) rows.push(...piece.rows);
  return { json: { columns: table.schema.fields.map((f) => f.name), rows: rows as JsonObject[] } };
}

/** What an executor serving the deployment answers for these rows (Arrow IPC), or the error it met. */
export async function askDeployment(
  s: Scheduler,
  deployment: string,
  ask: { rows: Uint8Array; kind: JobKind; keepColumns?: string[]; positional?: boolean; params?: JsonObject; callerTimeoutMs?: number },
): Promise<ServeReply> {
  if (ask.rows.length > MAX_ONLINE_ROWS_BYTES) {
    throw resourceExhausted("PREDICT_TOO_LARGE", `the rows take ${ask.rows.length} bytes as Arrow, more than an online prediction takes (${MAX_ONLINE_ROWS_BYTES}): predict them with a job (kiln runtime:predict)`);
  }
  await mustExist(s, deployment);
  const request = create(ServeRequestSchema, { deployment, arrowIpc: ask.rows, kind: ask.kind, keepColumns: ask.keepColumns, positional: ask.positional, params: ask.params, requestId: randomUUID() });
  // The caller's deadline, when sooner than the server's: nobody waits for an answer after it.
  const timeoutMs = Math.max(1, Math.min(s.settings.predictTimeoutMs, ask.callerTimeoutMs ?? Infinity));
  const deadline = Date.now() + timeoutMs;
  await wakeIfScaledToZero(s, deployment, deadline);
  const left = Math.max(1, deadline - Date.now());
  const reply = await requestPrediction(s, deployment, deploymentRoute(deployment).subject, toBinary(ServeRequestSchema, request), left).catch(async (e: unknown) => {
    throw await whyNoAnswer(s, deployment, e, timeoutMs);
  });
  const answer = fromBinary(ServeReplySchema, reply.data);
  if (answer.error) throw new KilnError(codeOf(answer.error.code), answer.error.reason, answer.error.message, { deployment });
  return answer;
}

/**
 * A prediction for a deployment this scheduler has not seen (it reads them at most every
 * half heartbeat) is checked against the store before NotFound; one it deleted is gone at
 * once, although its executors answer until their next heartbeat.
 */
async function mustExist(s: Scheduler, name: string): Promise<void> {
  if ((await s.deployments.get()).some((d) => d.name === name)) return;
  await readDeployment(s, name);
  s.deployments.forget();
}

/** EXPLAIN's params, checked as a job's, and a background dataset's name; other kinds take none. */
export function onlineParams(kind: JobKind, params: JsonObject | undefined): JsonObject | undefined {
  const given = params ?? {};
  if (kind !== JobKind.EXPLAIN) {
    if (Object.keys(given).length) throw invalidArgument("INVALID_PARAMS", `params are an EXPLAIN's; a ${JobKind[kind]} request takes none`);
    return undefined;
  }
  const { background, ...rest } = given;
  checkExplainParams(rest);
  if (background !== undefined && !isDatasetRef(background)) {
    throw invalidArgument("INVALID_PARAMS", `params.background is a dataset, "name" or "name@3", not ${printable(JSON.stringify(background))}`);
  }
  return given;
}

/** The request's rows as one Arrow IPC stream; JSON rows of numbers are positional. */
function inputRows(req: PredictRequest): { rows: Uint8Array; positional: boolean } {
  if (req.input.case === undefined) throw invalidArgument("INPUT_REQUIRED", "the request has no rows: give data (JSON) or arrow_ipc");
  const { ipc, positionalColumns } = rowsInRequest(req.input);
  return { rows: ipc, positional: positionalColumns.length > 0 };
}

/** Nobody answered: the deployment does not exist, no executor has it loaded yet, or it took too long. */
async function whyNoAnswer(s: Scheduler, name: string, e: unknown, timeoutMs: number): Promise<unknown> {
  if (isKilnError(e) && e.reason === "REQUEST_TIMEOUT") {
    return new KilnError(Code.DeadlineExceeded, "PREDICT_TIMEOUT", `deployment ${name} did not answer within ${timeoutMs} ms`, { deployment: name });
  }
  if (!isKilnError(e) || e.reason !== "NO_RESPONDERS") return e;
  const deployment = await getDeployment(s, name);
  return unavailable("DEPLOYMENT_NOT_READY", `deployment ${name} is not ready: ${notAnswering(deployment)}`, { deployment: name });
}

function notAnswering(d: Deployment): string {
  if (d.state === DeploymentState.READY || d.state === DeploymentState.DEGRADED) {
    return `the executors serving it do not answer (one may have stopped: another takes ${d.modelVersion} over within three heartbeats)`;
  }
  if (d.state === DeploymentState.FAILED) return `its executors could not load ${d.modelVersion}: ${d.error?.message ?? "no reason given"}`;
  const which = d.requiredLabels.length ? `no executor with labels ${d.requiredLabels.join(", ")}` : "no executor";
  return `${which} has loaded ${d.modelVersion} yet`;
}

import { create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { invalidArgument, notFound, pathPart, printable, streamPieces, unimplemented, type HttpRequest, type Json } from "@kiln/core";
import { parseFilter } from "@kiln/data";
import { ArtifactRefSchema, EventSchema } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { stringAt } from "@kiln/storage";
import { storePieces } from "./blob-pieces.js";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { toTracked } from "./log.js";
import { optionalText, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { entriesFromRoot, entriesUnder } from "./mlflow-artifact-tree.js";
import { artifactContent } from "./artifact-content.js";
import { experimentIdOf } from "./mlflow-ids.js";
import { changeLoggedModel, loggedModelById } from "./mlflow-logged-models.js";
import { runById, runIdField } from "./mlflow-runs.js";
import { addTraceFile, storeTraceUpload } from "./mlflow-trace-spans.js";
import { SOURCE_RUN_METADATA, traceById } from "./mlflow-trace-store.js";
import { TRACE_SPANS_KIND, type RunRecord, type StoredArtifact } from "./records.js";

const ARTIFACTS = parseFilter(`event = "artifact"`);

/**
 * Whose files an artifact path names: a run's (`{experiment_id}/{run_id}/artifacts/…`, a
 * run's artifact_uri), a logged model's (`{experiment_id}/models/{model_id}/artifacts/…`)
 * or a trace's (`{experiment_id}/traces/{trace_id}/artifacts/traces.json`).
 */
type Owner = { runId: string } | { modelId: string } | { traceId: string };

export interface ArtifactPath {
  experimentId: string;
  owner: Owner;
  /** Inside the owner's artifacts; "" for their root. */
  path: string;
}

export function parseArtifactPath(text: string): ArtifactPath | undefined {
  const parts = text.split("/").filter((p, i, all) => p !== "" || i < all.length - 1);
  const kind = (parts[1] === "models" || parts[1] === "traces") && parts[3] === "artifacts" ? parts[1] : undefined;
  if (!kind && parts[2] !== "artifacts") return undefined;
  const inner = parts.slice(kind ? 4 : 3);
  for (const p of inner) if (p === "" || p === "." || p === "..") throw invalidArgument("INVALID_PATH", `Invalid artifact path: '${printable(text)}'`);
  const owner: Owner = kind === "models" ? { modelId: parts[2]! } : kind === "traces" ? { traceId: parts[2]! } : { runId: parts[1]! };
  return { experimentId: parts[0]!, owner, path: inner.join("/") };
}

/** An owner's files, and how a new one is recorded. */
export interface OwnerFiles {
  /** The run that logged them: the run itself, or a logged model's source run ("" when it has none). */
  runId: string;
  files(): Promise<Map<string, StoredArtifact>>;
  /** Stores an upload the owner's own way, or undefined to store it as a blob (a trace keeps a small spans' file as a document). */
  store?(path: string, req: HttpRequest): Promise<StoredArtifact | undefined>;
  add(path: string, file: StoredArtifact, idOfEvent: string): Promise<void>;
}

/** The files of the run, logged model or trace a path names, checked to be of the experiment the path names too. */
export async function ownerOf(deps: TrackingDeps, project: string, p: ArtifactPath): Promise<OwnerFiles> {
  if ("traceId" in p.owner) {
    const { traceId } = p.owner;
    const trace = await traceById(deps, project, traceId);
    if (experimentIdOf(trace.experiment) !== p.experimentId) throw notFound("TRACE_NOT_FOUND", `Trace ${traceId} is not in experiment ${p.experimentId}`);
    return {
      runId: trace.metadata[SOURCE_RUN_METADATA] ?? "",
      files: async () => new Map(Object.entries(trace.files)),
      store: (path, req) => storeTraceUpload(deps, project, traceId, path, req),
      add: (path, file) => addTraceFile(deps, project, traceId, path, file),
    };
  }
  if ("modelId" in p.owner) {
    const { modelId } = p.owner;
    const model = await loggedModelById(deps, project, modelId);
    if (experimentIdOf(model.experiment) !== p.experimentId) throw notFound("LOGGED_MODEL_NOT_FOUND", `Logged model ${modelId} is not in experiment ${p.experimentId}`);
    return {
      runId: model.sourceRunId,
      files: async () => new Map(Object.entries(model.files)),
      add: async (path, file) => void (await changeLoggedModel(deps, project, modelId, (m) => ({ ...m, files: { ...m.files, [path]: file } }))),
    };
  }
  const { runId } = p.owner;
  const { run, experimentId } = await runById(deps, project, runId);
  if (experimentId !== p.experimentId) throw notFound("RUN_NOT_FOUND", `Run with id=${runId} is not in experiment ${p.experimentId}`);
  return {
    runId,
    files: () => artifactsOf(deps, run),
    async add(path, file, idOfEvent) {
      const ref = create(ArtifactRefSchema, { ...file, size: BigInt(file.size), chunks: (file.chunks ?? []).map((c) => ({ sha256: c.sha256, size: BigInt(c.size) })) });
      const event = create(EventSchema, { id: idOfEvent, event: "artifact", key: path, value: { case: "artifact", value: ref } });
      await deps.events.append([toTracked(event, run.experiment, run.run, nowOf(deps).getTime())]);
    },
  };
}

/** The run's artifacts by path, the last one logged at each. */
async function artifactsOf(deps: TrackingDeps, run: RunRecord): Promise<Map<string, StoredArtifact>> {
  const found = new Map<string, StoredArtifact>();
  for await (const page of deps.events.query({ experiment: run.experiment, runs: { runs: [run.run] }, filter: ARTIFACTS })) {
    for (let i = 0; i < page.length; i++) {
      const text = page.text[i];
      if (text) found.set(stringAt(page.key, i), JSON.parse(text) as StoredArtifact);
    }
  }
  return found;
}

const ARTIFACTS_ROUTE = "mlflow-artifacts/artifacts/";

async function upload(deps: TrackingDeps, { project, path, req }: MlflowCall): Promise<Json> {
  const p = parseArtifactPath(pathPart(path.slice(ARTIFACTS_ROUTE.length)));
  if (!p || !p.path) throw invalidArgument("INVALID_PATH", `an artifact is uploaded to {experiment_id}/{run_id}/artifacts/{path}, not ${printable(path)}`);
  const owner = await ownerOf(deps, project, p);
  const kept = await owner.store?.(p.path, req);
  if (kept) {
    await owner.add(p.path, kept, createHash("sha256").update(JSON.stringify([p.owner, "artifact", p.path, kept.ref])).digest("hex"));
    return {};
  }
  const file = await storePieces(deps, streamPieces(req));
  const stored: StoredArtifact = {
    kind: "file",
    ref: file.sha256,
    name: posix.basename(p.path),
    size: file.size,
    mediaType: String(req.headers["content-type"] ?? "") || "application/octet-stream",
    ...(file.pieces.length > 1 ? { chunks: file.pieces } : {}),
  };
  await owner.add(p.path, stored, createHash("sha256").update(JSON.stringify([p.owner, "artifact", p.path, file.sha256])).digest("hex"));
  return {};
}

async function download(deps: TrackingDeps, { project, path, res }: MlflowCall): Promise<undefined> {
  const p = parseArtifactPath(pathPart(path.slice(ARTIFACTS_ROUTE.length)));
  if (!p || !p.path) throw notFound("ARTIFACT_NOT_FOUND", `no artifact at ${printable(path)}`);
  const artifact = (await (await ownerOf(deps, project, p)).files()).get(p.path);
  if (!artifact) throw notFound("ARTIFACT_NOT_FOUND", `no artifact '${p.path}' there`);
  const headers = { "content-disposition": `attachment; filename="${posix.basename(p.path).replace(/["\\\r\n]/g, "_")}"`, "x-content-type-options": "nosniff" };
  const content = artifactContent(deps, artifact);
  // A trace's spans' document may have grown since its size was noted: sent without a length.
  res.writeHead(200, { ...headers, "content-type": content.mediaType, ...(artifact.kind !== TRACE_SPANS_KIND && { "content-length": String(content.size) }) });
  for await (const bytes of content.bytes()) {
    if (res.destroyed) return undefined;
    if (!res.write(bytes)) await new Promise((resolve) => res.once("drain", resolve));
  }
  res.end();
  return undefined;
}

/** The proxied-artifact list: `?path={experiment_id}/{run_id}/artifacts[/dir]`, entries named by their base names. */
async function listProxied(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const text = optionalText(fields, "path") ?? "";
  const p = parseArtifactPath(text.replace(/^\/+/, ""));
  if (!p) return {};
  const files = entriesUnder(await (await ownerOf(deps, project, p)).files(), p.path);
  return files.length ? { files: files as unknown as Json } : {};
}

/** The tracking API's list: `run_id` and a `path` inside the run's artifacts; entries by their paths from the run's root. */
async function listOfRun(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const runId = runIdField(fields);
  const { run, experimentId } = await runById(deps, project, runId);
  const files = entriesFromRoot(await artifactsOf(deps, run), optionalText(fields, "path") ?? "");
  return { root_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`, ...(files.length ? { files: files as unknown as Json } : {}) };
}

/**
 * What MLflow's server answers when its artifact store takes no multipart uploads, word for
 * word: its clients (with MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD) then send the file in one
 * PUT, which Kiln takes at any size. Any other answer fails their log_artifact.
 */
async function noMultipart(): Promise<never> {
  throw unimplemented("MULTIPART_UPLOAD_UNSUPPORTED", "Multipart upload is not supported for the current artifact repository");
}

export function artifactEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    ...Object.fromEntries(["create", "complete", "abort"].map((step) => [`POST mlflow-artifacts/mpu/${step}/*`, { method: "POST", role: "write", answer: noMultipart }])),
    [`PUT ${ARTIFACTS_ROUTE}*`]: { method: "PUT", role: "write", answer: (c) => upload(deps, c) },
    [`GET ${ARTIFACTS_ROUTE}*`]: { method: "GET", role: "read", answer: (c) => download(deps, c) },
    "mlflow-artifacts/artifacts": { method: "GET", role: "read", answer: (c) => listProxied(deps, c) },
    "mlflow/artifacts/list": { method: "GET", role: "read", answer: (c) => listOfRun(deps, c) },
  };
}

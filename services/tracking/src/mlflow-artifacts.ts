import { create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { invalidArgument, notFound, pathPart, printable, type HttpRequest, type HttpResponse, type Json } from "@kiln/core";
import { parseFilter } from "@kiln/data";
import { ArtifactRefSchema, EventSchema } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { stringAt } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { trackingGarbage } from "./garbage.js";
import { toTracked } from "./log.js";
import { optionalText, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { runById, runIdField } from "./mlflow-runs.js";
import type { RunRecord } from "./records.js";

/** As the SDK stores a file artifact: pieces of 4 MiB, each a blob, the whole file named by its sha256. */
const PIECE_BYTES = 4 * 1024 * 1024;
const ARTIFACTS = parseFilter(`event = "artifact"`);

/** An artifact event's value, as the tracking service keeps it. */
interface StoredArtifact {
  kind: string;
  ref: string;
  name: string;
  size: number;
  mediaType?: string;
  chunks?: { sha256: string; size: number }[];
}

/** `{experiment_id}/{run_id}/artifacts[/{path}]`, as a run's artifact_uri and MLflow's artifact routes name it. */
interface ArtifactPath {
  experimentId: string;
  runId: string;
  /** Inside the run's artifacts; "" for their root. */
  path: string;
}

function parseArtifactPath(text: string): ArtifactPath | undefined {
  const parts = text.split("/").filter((p, i, all) => p !== "" || i < all.length - 1);
  if (parts.length < 3 || parts[2] !== "artifacts") return undefined;
  const inner = parts.slice(3);
  for (const p of inner) if (p === "" || p === "." || p === "..") throw invalidArgument("INVALID_PATH", `Invalid artifact path: '${printable(text)}'`);
  return { experimentId: parts[0]!, runId: parts[1]!, path: inner.join("/") };
}

/** The run an artifact path names, checked to be of the experiment the path names too. */
async function runOfPath(deps: TrackingDeps, project: string, p: ArtifactPath): Promise<RunRecord> {
  const { run, experimentId } = await runById(deps, project, p.runId);
  if (experimentId !== p.experimentId) throw notFound("RUN_NOT_FOUND", `Run with id=${p.runId} is not in experiment ${p.experimentId}`);
  return run;
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

/** The body in pieces of PIECE_BYTES: each is stored (and marked, as uploads are, until the event names it) as it fills. */
async function storePieces(deps: TrackingDeps, req: HttpRequest): Promise<{ sha256: string; size: number; pieces: { sha256: string; size: number }[] }> {
  const garbage = trackingGarbage(deps);
  const whole = createHash("sha256");
  const pieces: { sha256: string; size: number }[] = [];
  let held: Buffer[] = [];
  let heldBytes = 0;
  let size = 0;
  const flush = async () => {
    const piece = Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    const stored = await deps.blobs.put(piece);
    await garbage.mark([stored.sha256]);
    pieces.push({ sha256: stored.sha256, size: piece.length });
  };
  for await (const chunk of req as AsyncIterable<Buffer>) {
    whole.update(chunk);
    size += chunk.length;
    let rest = chunk;
    while (heldBytes + rest.length >= PIECE_BYTES) {
      const take = PIECE_BYTES - heldBytes;
      held.push(rest.subarray(0, take));
      heldBytes += take;
      rest = rest.subarray(take);
      await flush();
    }
    if (rest.length) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes || !pieces.length) await flush();
  return { sha256: whole.digest("hex"), size, pieces };
}

async function upload(deps: TrackingDeps, { project, path, req }: MlflowCall): Promise<Json> {
  const p = parseArtifactPath(pathPart(path.slice("mlflow-artifacts/artifacts/".length)));
  if (!p || !p.path) throw invalidArgument("INVALID_PATH", `an artifact is uploaded to {experiment_id}/{run_id}/artifacts/{path}, not ${printable(path)}`);
  const run = await runOfPath(deps, project, p);
  const file = await storePieces(deps, req);
  const mediaType = String(req.headers["content-type"] ?? "") || "application/octet-stream";
  const ref = create(ArtifactRefSchema, {
    kind: "file",
    ref: file.sha256,
    name: posix.basename(p.path),
    size: BigInt(file.size),
    mediaType,
    chunks: file.pieces.length > 1 ? file.pieces.map((c) => ({ sha256: c.sha256, size: BigInt(c.size) })) : [],
  });
  const now = nowOf(deps).getTime();
  const event = create(EventSchema, { id: createHash("sha256").update(JSON.stringify([p.runId, "artifact", p.path, file.sha256])).digest("hex"), event: "artifact", key: p.path, value: { case: "artifact", value: ref } });
  await deps.events.append([toTracked(event, run.experiment, run.run, now)]);
  return {};
}

async function download(deps: TrackingDeps, { project, path, res }: MlflowCall): Promise<undefined> {
  const p = parseArtifactPath(pathPart(path.slice("mlflow-artifacts/artifacts/".length)));
  if (!p || !p.path) throw notFound("ARTIFACT_NOT_FOUND", `no artifact at ${printable(path)}`);
  const run = await runOfPath(deps, project, p);
  const artifact = (await artifactsOf(deps, run)).get(p.path);
  if (!artifact) throw notFound("ARTIFACT_NOT_FOUND", `run ${p.runId} logged no artifact '${p.path}'`);
  const headers = { "content-disposition": `attachment; filename="${posix.basename(p.path).replace(/["\\\r\n]/g, "_")}"`, "x-content-type-options": "nosniff" };
  if (artifact.kind !== "file") {
    // A JSON value, or a reference to a model or dataset: its JSON.
    const text = artifact.kind === "json" ? artifact.ref : JSON.stringify({ kind: artifact.kind, ref: artifact.ref, name: artifact.name });
    res.writeHead(200, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
    return undefined;
  }
  const pieces = artifact.chunks?.length ? artifact.chunks.map((c) => c.sha256) : [artifact.ref];
  res.writeHead(200, { ...headers, "content-type": artifact.mediaType || "application/octet-stream", "content-length": String(artifact.size) });
  for (const sha256 of pieces) {
    for await (const bytes of deps.blobs.get(sha256)) {
      if (res.destroyed) return undefined;
      if (!res.write(bytes)) await new Promise((resolve) => res.once("drain", resolve));
    }
  }
  res.end();
  return undefined;
}

interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

/** The entries right under `dir` ("" for the root): files with their sizes, and folders once each. A file's own path has none. */
function entriesUnder(artifacts: Map<string, StoredArtifact>, dir: string): FileInfo[] {
  if (dir && artifacts.has(dir)) return [];
  const prefix = dir ? `${dir}/` : "";
  const entries = new Map<string, FileInfo>();
  for (const [key, a] of artifacts) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash >= 0) entries.set(rest.slice(0, slash), { path: rest.slice(0, slash), is_dir: true });
    else if (!entries.has(rest)) entries.set(rest, { path: rest, is_dir: false, file_size: a.kind === "file" ? a.size : Buffer.byteLength(a.kind === "json" ? a.ref : JSON.stringify(a)) });
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The proxied-artifact list: `?path={experiment_id}/{run_id}/artifacts[/dir]`, entries named by their base names. */
async function listProxied(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const text = optionalText(fields, "path") ?? "";
  const p = parseArtifactPath(text.replace(/^\/+/, ""));
  if (!p) return {};
  const run = await runOfPath(deps, project, p);
  const files = entriesUnder(await artifactsOf(deps, run), p.path);
  return files.length ? { files: files as unknown as Json } : {};
}

/** The tracking API's list: `run_id` and a `path` inside the run's artifacts; entries by their paths from the run's root. */
async function listOfRun(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const runId = runIdField(fields);
  const { run, experimentId } = await runById(deps, project, runId);
  const dir = (optionalText(fields, "path") ?? "").replace(/^\/+|\/+$/g, "");
  const files = entriesUnder(await artifactsOf(deps, run), dir).map((f) => ({ ...f, path: dir ? `${dir}/${f.path}` : f.path }));
  return { root_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`, ...(files.length ? { files: files as unknown as Json } : {}) };
}

export function artifactEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    "PUT mlflow-artifacts/artifacts/*": { method: "PUT", role: "write", answer: (c) => upload(deps, c) },
    "GET mlflow-artifacts/artifacts/*": { method: "GET", role: "read", answer: (c) => download(deps, c) },
    "mlflow-artifacts/artifacts": { method: "GET", role: "read", answer: (c) => listProxied(deps, c) },
    "mlflow/artifacts/list": { method: "GET", role: "read", answer: (c) => listOfRun(deps, c) },
  };
}

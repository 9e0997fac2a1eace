import { invalidArgument, printable } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { artifactContent } from "./artifact-content.js";
import { ownerOf, parseArtifactPath, type ArtifactPath } from "./mlflow-artifacts.js";
import { loggedModelById } from "./mlflow-logged-models.js";
import { experimentIdOf } from "./mlflow-ids.js";
import { runById } from "./mlflow-runs.js";
import type { StoredArtifact } from "./records.js";

/** The files of a model a version is registered from, by their paths inside its folder. */
export interface ModelSource {
  files: Map<string, StoredArtifact>;
  /** The run that logged them, when the source names one. */
  runId?: string;
}

/**
 * The files a model version's `source` names, from what this server stores: a run's
 * artifacts (`runs:/{run_id}/{path}`, or the run's artifact URI `mlflow-artifacts:/…` as
 * MLflow 2's clients send it, through an http URL of the proxy too) or a logged model's
 * (`models:/{model_id}`, as MLflow 3's send it). InvalidArgument for anything else, or a
 * source with no files.
 */
export async function modelSource(deps: TrackingDeps, project: string, source: string): Promise<ModelSource> {
  const path = artifactPathOf(source) ?? (await runsUri(deps, project, source)) ?? (await loggedModelUri(deps, project, source));
  if (!path) {
    throw invalidArgument(
      "UNSUPPORTED_SOURCE",
      `Kiln registers models from the artifacts it keeps: the source is runs:/{run_id}/{path}, models:/{model_id} or an mlflow-artifacts: URI of this server, not '${printable(source.slice(0, 200))}'`,
    );
  }
  const owner = await ownerOf(deps, project, path);
  const all = await owner.files();
  const files = new Map<string, StoredArtifact>();
  const single = all.get(path.path);
  if (single) files.set(path.path.slice(path.path.lastIndexOf("/") + 1), single);
  const prefix = path.path ? `${path.path}/` : "";
  for (const [key, file] of all) if (!single && key.startsWith(prefix)) files.set(key.slice(prefix.length), file);
  if (!files.size) throw invalidArgument("EMPTY_SOURCE", `there are no files at '${printable(source.slice(0, 200))}' to register`);
  return { files, ...(owner.runId && { runId: owner.runId }) };
}

/** `mlflow-artifacts:/{path}`, `mlflow-artifacts://{host}/{path}` or `http(s)://{host}/…/api/2.0/mlflow-artifacts/artifacts/{path}`. */
function artifactPathOf(source: string): ArtifactPath | undefined {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/+(.*)$/.exec(source) ?? /^https?:\/\/[^/]+(?:\/.*)?\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.*)$/.exec(source);
  if (!m) return undefined;
  let text: string;
  try {
    text = decodeURIComponent(m[1]!.replace(/\/+$/, ""));
  } catch {
    return undefined;
  }
  return parseArtifactPath(text);
}

async function runsUri(deps: TrackingDeps, project: string, source: string): Promise<ArtifactPath | undefined> {
  const m = /^runs:\/+([^/]+)\/?(.*)$/.exec(source);
  if (!m) return undefined;
  const { experimentId } = await runById(deps, project, m[1]!);
  return parseArtifactPath(`${experimentId}/${m[1]}/artifacts/${m[2]!.replace(/\/+$/, "")}`);
}

/**
 * MLflow 3's logged model, `models:/m-{32 hex digits}[/path]`: files of the tracking
 * service. (`models:/{name}/{version}` names a registered version, not files here.)
 */
export const LOGGED_MODEL_URI = /^models:\/+(m-[0-9a-f]{32})(?:\/+(.*?))?\/*$/;

async function loggedModelUri(deps: TrackingDeps, project: string, source: string): Promise<ArtifactPath | undefined> {
  const m = LOGGED_MODEL_URI.exec(source);
  if (!m) return undefined;
  const model = await loggedModelById(deps, project, m[1]!);
  return parseArtifactPath(`${experimentIdOf(model.experiment)}/models/${m[1]}/artifacts/${m[2] ?? ""}`);
}

/** The ONNX file an MLmodel's `onnx` flavor names (`flavors: onnx: data: model.onnx`), if it has one. */
export function onnxFileOf(mlmodel: string): string | undefined {
  const lines = mlmodel.split(/\r?\n/);
  const flavors = lines.findIndex((l) => /^flavors:\s*$/.test(l));
  if (flavors < 0) return undefined;
  let inOnnx = -1;
  for (const line of lines.slice(flavors + 1)) {
    if (!line.trim()) continue;
    const indent = line.length - line.trimStart().length;
    if (indent === 0) break;
    if (inOnnx >= 0 && indent <= inOnnx) inOnnx = -1;
    if (inOnnx < 0 && /^\s+onnx:\s*$/.test(line)) inOnnx = indent;
    else if (inOnnx >= 0) {
      const data = /^\s+data:\s*['"]?([^'"#\s]+)['"]?\s*$/.exec(line);
      if (data) return data[1];
    }
  }
  return undefined;
}

/** A small text file of the source (the MLmodel), read whole; undefined when absent or large. */
export async function textFile(deps: TrackingDeps, files: Map<string, StoredArtifact>, path: string, maxBytes = 1024 * 1024): Promise<string | undefined> {
  const file = files.get(path);
  if (!file) return undefined;
  const content = artifactContent(deps, file);
  if (content.size > maxBytes) return undefined;
  const parts: Uint8Array[] = [];
  for await (const bytes of content.bytes()) parts.push(bytes);
  return Buffer.concat(parts).toString("utf8");
}

import { randomBytes } from "node:crypto";
import { checkId, invalidArgument, parseParent, printable } from "@kiln/core";

/** `projects/{p}/{collection}/{id}` (a job's, a deployment's, a schedule's) → its parts; InvalidArgument otherwise. */
export function parseResourceName(name: string, collection: "jobs" | "deployments" | "schedules" | "webhooks" | "inferenceGraphs"): { project: string; id: string } {
  const what = collection === "inferenceGraphs" ? "inference_graph" : collection.slice(0, -1);
  const m = new RegExp(`^(projects/[^/]+)/${collection}/([^/]+)$`).exec(name);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid ${what} name "${printable(name)}": expected projects/{project}/${collection}/{id}`);
  parseParent(m[1]!);
  checkId(m[2]!, what);
  return { project: m[1]!, id: m[2]! };
}

export function parseJobName(name: string): { project: string; id: string } {
  return parseResourceName(name, "jobs");
}

/**
 * Job ids sort by creation time (a millisecond timestamp, then randomness), so a key
 * scan lists jobs oldest first and a reverse scan newest first.
 */
/** Ids for jobs submitted together share the random part and end with their index, so they list in order. */
export function newJobIds(now: Date, count: number): string[] {
  const time = now.getTime().toString(36).padStart(9, "0");
  const batch = randomBytes(4).toString("hex");
  return Array.from({ length: count }, (_, i) => `${time}${batch}${i.toString(16).padStart(4, "0")}`);
}

export function jobsPrefix(project: string): string {
  return `${project}/jobs/`;
}

/** `projects/{p}/models/{m}[/versions/{ref}]` → the version name (ref "latest" if none) and the model's name. */
export function parseModelRef(ref: string): { model: string; version: string } {
  const m = /^(projects\/[^/]+\/models\/([^/]+))(?:\/versions\/([^/]+))?$/.exec(ref);
  if (!m) {
    throw invalidArgument("INVALID_MODEL", `invalid model "${printable(ref)}": expected projects/{p}/models/{m} or projects/{p}/models/{m}/versions/{number|tag|latest}`);
  }
  checkId(m[2]!, "model");
  return { model: m[1]!, version: `${m[1]}/versions/${m[3] ?? "latest"}` };
}

/** The number a model version name ends with (`…/versions/3` → 3n); undefined for a tag, "latest" or a model's name. */
export function versionNumber(ref: string): bigint | undefined {
  const m = /\/versions\/(\d+)$/.exec(ref);
  return m ? BigInt(m[1]!) : undefined;
}

export function parseDatasetName(name: string, what: string): string {
  const m = /^projects\/[^/]+\/datasets\/([^/]+)$/.exec(name);
  if (!m) throw invalidArgument("INVALID_DATASET", `invalid ${what} "${printable(name)}": expected projects/{p}/datasets/{d}`);
  checkId(m[1]!, "dataset");
  return name;
}

export function executorName(id: string): string {
  return `executors/${checkId(id, "executor")}`;
}

export function parseExecutorName(name: string): string {
  const m = /^executors\/([^/]+)$/.exec(name);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid executor name "${printable(name)}": expected executors/{id}`);
  return executorName(m[1]!);
}

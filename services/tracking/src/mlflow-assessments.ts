import { randomBytes } from "node:crypto";
import { invalidArgument, notFound, printable, type Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { objectAt, requiredObject, requiredText } from "./mlflow-http.js";
import { changeTrace, traceById } from "./mlflow-trace-store.js";

/**
 * MLflow 3's assessments of a trace (`mlflow.log_feedback`, `log_expectation`,
 * `override_feedback`): kept in the trace as MLflow's JSON writes them, the server setting
 * their ids and validity (and their times, when the client gave none).
 */
type Assessment = Record<string, Json>;

/** An assessment's JSON, its value and metadata included. */
const MAX_ASSESSMENT_CHARS = 100_000;
const KINDS = ["feedback", "expectation"] as const;
const UPDATABLE = ["assessment_name", "feedback", "expectation", "rationale", "metadata", "valid"];

function assessmentNotFound(traceId: string, assessmentId: string) {
  return notFound("ASSESSMENT_NOT_FOUND", `Assessment with ID '${printable(assessmentId).slice(0, 80)}' not found for trace '${traceId}'`);
}

function kindOf(a: Assessment): (typeof KINDS)[number] | undefined {
  return KINDS.find((k) => objectAt(a, k) !== undefined);
}

function checkSize(a: Assessment): Assessment {
  if (JSON.stringify(a).length > MAX_ASSESSMENT_CHARS) throw invalidArgument("INVALID_PARAMETER", `an assessment is at most ${MAX_ASSESSMENT_CHARS} characters of JSON`);
  return a;
}

/** `assessments` (POST: create) or `assessments/{id}` (GET, PATCH, DELETE) of a trace. */
export async function onAssessments(deps: TrackingDeps, project: string, traceId: string, rest: string[], method: string, fields: Record<string, Json>): Promise<Json> {
  if (!rest.length && method === "POST") return { assessment: await create(deps, project, traceId, requiredObject(fields, "assessment")) };
  const assessmentId = rest[0];
  if (rest.length !== 1 || !assessmentId) throw notFound("ENDPOINT_NOT_FOUND", `Kiln's MLflow API has no ${method} for assessments/${rest.join("/")}`);
  if (method === "GET") {
    const found = (await traceById(deps, project, traceId)).assessments.find((a) => a.assessment_id === assessmentId);
    if (!found) throw assessmentNotFound(traceId, assessmentId);
    return { assessment: found };
  }
  if (method === "PATCH") return { assessment: await update(deps, project, traceId, assessmentId, requiredObject(fields, "assessment"), maskOf(fields)) };
  if (method === "DELETE") {
    await remove(deps, project, traceId, assessmentId);
    return {};
  }
  throw notFound("ENDPOINT_NOT_FOUND", `Kiln's MLflow API has no ${method} for assessments/${assessmentId}`);
}

/** A new assessment; one that overrides another makes that one invalid. */
async function create(deps: TrackingDeps, project: string, traceId: string, given: Assessment): Promise<Assessment> {
  requiredText(given, "assessment_name");
  if (!kindOf(given)) throw invalidArgument("INVALID_PARAMETER", "an assessment is a feedback or an expectation");
  const now = nowOf(deps).toISOString();
  const created = checkSize({ create_time: now, last_update_time: now, ...given, assessment_id: `a-${randomBytes(16).toString("hex")}`, trace_id: traceId, valid: given.valid ?? true });
  const overrides = typeof given.overrides === "string" && given.overrides ? given.overrides : undefined;
  await changeTrace(deps, project, traceId, (t) => {
    if (overrides && !t.assessments.some((a) => a.assessment_id === overrides)) throw assessmentNotFound(traceId, overrides);
    const kept = t.assessments.map((a) => (a.assessment_id === overrides ? { ...a, valid: false } : a));
    return { ...t, assessments: [...kept, created] };
  });
  return created;
}

/** The fields a FieldMask names: "a,b" in JSON, or `{paths: [...]}`. */
function maskOf(fields: Record<string, Json>): string[] {
  const mask = fields.update_mask;
  const paths = typeof mask === "string" ? mask.split(",") : mask && typeof mask === "object" && !Array.isArray(mask) && Array.isArray(mask.paths) ? mask.paths.map(String) : undefined;
  if (!paths?.length) throw invalidArgument("MISSING_PARAMETER", "Missing value for required parameter 'update_mask'.");
  const names = paths.map((p) => p.trim().replace(/([A-Z])/g, (c) => `_${c.toLowerCase()}`));
  const unknown = names.find((p) => !UPDATABLE.includes(p));
  if (unknown) throw invalidArgument("INVALID_PARAMETER", `an assessment's ${printable(unknown).slice(0, 60)} is not changed; update_mask names ${UPDATABLE.join(", ")}`);
  return names;
}

/** Changes what the mask names; metadata is merged, the source and span stay. */
async function update(deps: TrackingDeps, project: string, traceId: string, assessmentId: string, given: Assessment, mask: string[]): Promise<Assessment> {
  let updated: Assessment | undefined;
  await changeTrace(deps, project, traceId, (t) => {
    const had = t.assessments.find((a) => a.assessment_id === assessmentId);
    if (!had) throw assessmentNotFound(traceId, assessmentId);
    const next: Assessment = { ...had, last_update_time: nowOf(deps).toISOString() };
    for (const path of mask) {
      if (path === "feedback" || path === "expectation") {
        if (kindOf(had) !== path) throw invalidArgument("INVALID_PARAMETER", `Cannot update ${path} value on a${kindOf(had) === "feedback" ? " Feedback" : "n Expectation"} assessment.`);
        next[path] = requiredObject(given, path);
      } else if (path === "metadata") next.metadata = { ...(objectAt(had, "metadata") ?? {}), ...(objectAt(given, "metadata") ?? {}) };
      else if (given[path] !== undefined) next[path] = given[path]!;
    }
    updated = checkSize(next);
    return { ...t, assessments: t.assessments.map((a) => (a === had ? next : a)) };
  });
  return updated!;
}

/** Deletes an assessment; the one it overrode is valid again. Deleting one that is gone changes nothing. */
async function remove(deps: TrackingDeps, project: string, traceId: string, assessmentId: string): Promise<void> {
  await changeTrace(deps, project, traceId, (t) => {
    const doomed = t.assessments.find((a) => a.assessment_id === assessmentId);
    if (!doomed) return undefined;
    const restored = typeof doomed.overrides === "string" ? doomed.overrides : undefined;
    return { ...t, assessments: t.assessments.filter((a) => a !== doomed).map((a) => (restored && a.assessment_id === restored ? { ...a, valid: true } : a)) };
  });
}

import { Code } from "@connectrpc/connect";
import { answerAfterBody, invalidArgument, isKilnError, parseParent, pathPart, readJsonObject, sendJson, type HttpAccess, type HttpRequest, type HttpResponse, type HttpRoute, type Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";

/** What one MLflow endpoint sees: the project its path names and the request's fields. */
export interface MlflowCall {
  project: string;
  /** The path after `/api/2.0/` (after `/api/3.0/` with `3.0/` before it), still percent-encoded. */
  path: string;
  fields: Record<string, Json>;
  req: HttpRequest;
  res: HttpResponse;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface MlflowEndpoint {
  /** GET reads its fields from the query, POST, PATCH and DELETE from a JSON body; PUT reads the body itself. */
  method: Method | readonly Method[];
  /** The endpoint reads the body itself whatever its method (OTLP's protobuf). */
  rawBody?: true;
  /**
   * As the Kiln RPC that does the same needs it (method-access.ts): searches are POSTs that
   * only read, and deleting an experiment or a model is an admin's, as in Kiln's own API.
   */
  role: "read" | "write" | "admin";
  /** The JSON answer, or undefined when the endpoint answered itself (a download). */
  answer(call: MlflowCall): Promise<Json | undefined>;
}

/**
 * Endpoints by their path after `/api/2.0/`, e.g. "mlflow/runs/get", or MLflow 3's after
 * `/api/3.0/` with `3.0/` before it ("3.0/mlflow/traces/search"), or "v1/traces" (the
 * OTLP route MLflow's server serves too); `*` ends a path that goes on (an artifact's). A
 * key may start with its method ("PUT mlflow-artifacts/…") where one path takes two endpoints.
 */
export type MlflowEndpoints = Record<string, MlflowEndpoint>;

export const MAX_BODY_BYTES = 16 * 1024 * 1024;
const JSON_BODIES = ["POST", "PATCH", "DELETE"];

/**
 * MLflow's REST API, as MLflow's own clients call it: under `/api/2.0/` for the default
 * project, or under `/projects/{p}/api/2.0/` (a tracking URI that ends in `/projects/{p}`).
 */
export function mlflowRoutes(deps: TrackingDeps, endpoints: MlflowEndpoints): HttpRoute[] {
  const route = (prefix: string): HttpRoute => ({
    prefix,
    methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    access: (rest, method) => accessOf(endpoints, prefix + rest, method),
    handle(rest, req, res) {
      void serve(deps, endpoints, prefix + rest, req, res);
    },
  });
  return [route("/api/2.0/mlflow"), route("/api/3.0/mlflow"), route("/v1/traces"), route("/projects/")];
}

interface Target {
  project: string;
  endpoint?: MlflowEndpoint;
  /** The path after `/api/2.0/`, or `3.0/` and the path after `/api/3.0/`. */
  path: string;
}

function targetOf(endpoints: MlflowEndpoints, fullPath: string, method: string): Target | undefined {
  const m = /^(?:\/projects\/([^/]+))?\/(?:api\/(2\.0|3\.0)\/(.*)|(v1\/traces))$/.exec(fullPath);
  if (!m) return undefined;
  const path = m[4] ?? (m[2] === "3.0" ? `3.0/${m[3]!}` : m[3]!);
  const project = m[1] ? parseParent(`projects/${pathPart(m[1])}`) : "projects/default";
  const wanted = method === "HEAD" ? "GET" : method;
  const takes = (e: MlflowEndpoint) => (typeof e.method === "string" ? e.method === wanted : e.method.includes(wanted as Method));
  const pathOf = (key: string) => key.replace(/^[A-Z]+ /, "");
  const exact = Object.entries(endpoints).find(([key, e]) => pathOf(key) === path && takes(e));
  if (exact) return { project, endpoint: exact[1], path };
  for (const [key, endpoint] of Object.entries(endpoints)) {
    const p = pathOf(key);
    if (p.endsWith("*") && path.startsWith(p.slice(0, -1)) && takes(endpoint)) return { project, endpoint, path };
  }
  return { project, path };
}

function accessOf(endpoints: MlflowEndpoints, fullPath: string, method: string): HttpAccess {
  let target: Target | undefined;
  try {
    target = targetOf(endpoints, fullPath, method);
  } catch {
    return { role: "read" }; // a bad path: answered once a token is shown
  }
  if (!target) return { role: "read" };
  const project = target.project.slice("projects/".length);
  return { role: target.endpoint?.role ?? "read", projects: [project] };
}

async function serve(deps: TrackingDeps, endpoints: MlflowEndpoints, fullPath: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  try {
    const target = targetOf(endpoints, fullPath, req.method ?? "GET");
    if (!target?.endpoint) {
      const message = target ? `Kiln's MLflow API has no ${req.method} ${target.path === "v1/traces" ? "/v1/traces" : `/api/${target.path.startsWith("3.0/") ? target.path : `2.0/${target.path}`}`}` : `no MLflow endpoint at ${fullPath}`;
      return answerAfterBody(req, () => sendJson(res, 404, { error_code: "ENDPOINT_NOT_FOUND", message }));
    }
    const fields = target.endpoint.rawBody ? {} : JSON_BODIES.includes(req.method ?? "") ? await readJsonObject(req, "the request's fields", MAX_BODY_BYTES, req.method !== "POST") : queryFields(req.url ?? "");
    const answer = await target.endpoint.answer({ project: target.project, path: target.path, fields, req, res });
    if (answer !== undefined) sendJson(res, 200, answer);
  } catch (e) {
    if (!isKilnError(e)) deps.logger.error({ err: e, path: fullPath }, "an MLflow API request failed");
    if (res.headersSent) return void res.destroy();
    const { status, code } = mlflowError(e);
    // A refused upload is answered once its body is through, as the server's own refusals are.
    answerAfterBody(req, () => sendJson(res, status, { error_code: code, message: isKilnError(e) ? e.message : "internal error" }));
  }
}

/** Query parameters as fields: a key given more than once is a list (MLflow's repeated fields). */
function queryFields(url: string): Record<string, Json> {
  const fields: Record<string, Json> = {};
  for (const [key, value] of new URL(url, "http://x").searchParams) {
    const had = fields[key];
    fields[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return fields;
}

/**
 * Kiln's codes as MLflow's error codes and statuses. Only what a retry can mend gets a
 * 5xx or 429: MLflow's clients retry those for minutes, POSTs included.
 */
function mlflowError(e: unknown): { status: number; code: string } {
  if (!isKilnError(e)) return { status: 500, code: "INTERNAL_ERROR" };
  switch (e.code) {
    case Code.NotFound:
      return { status: 404, code: "RESOURCE_DOES_NOT_EXIST" };
    case Code.AlreadyExists:
      return { status: 400, code: "RESOURCE_ALREADY_EXISTS" };
    case Code.PermissionDenied:
      return { status: 403, code: "PERMISSION_DENIED" };
    case Code.Unauthenticated:
      return { status: 401, code: "UNAUTHENTICATED" };
    case Code.Aborted:
      return { status: 409, code: "ABORTED" };
    case Code.Unimplemented:
      return { status: 501, code: "NOT_IMPLEMENTED" };
    case Code.Unavailable:
      return { status: 503, code: "TEMPORARILY_UNAVAILABLE" };
    case Code.InvalidArgument:
    case Code.FailedPrecondition:
    case Code.ResourceExhausted:
    case Code.OutOfRange:
      return { status: 400, code: "INVALID_PARAMETER_VALUE" };
    default:
      return { status: 500, code: "INTERNAL_ERROR" };
  }
}

function missing(name: string) {
  return invalidArgument("MISSING_PARAMETER", `Missing value for required parameter '${name}'.`);
}

/** A required text field: missing or empty is MLflow's "Missing value for required parameter". */
export function requiredText(fields: Record<string, Json>, name: string): string {
  const v = optionalText(fields, name);
  if (v === undefined) throw missing(name);
  return v;
}

export function optionalText(fields: Record<string, Json>, name: string): string | undefined {
  const v = fields[name];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw invalidArgument("INVALID_PARAMETER", `parameter '${name}' is a string, not ${JSON.stringify(v).slice(0, 40)}`);
  return v;
}

/** An int64 field: a JSON number, or text from a query string or protobuf's JSON. */
export function optionalInteger(fields: Record<string, Json>, name: string): number | undefined {
  const v = fields[name];
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw invalidArgument("INVALID_PARAMETER", `parameter '${name}' is an integer, not ${JSON.stringify(v).slice(0, 40)}`);
  return n;
}

/** A double field: a JSON number, or "NaN", "Infinity", "-Infinity" as protobuf's JSON writes them. */
export function requiredDouble(fields: Record<string, Json>, name: string): number {
  const v = fields[name];
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  if (v === undefined || v === null) throw missing(name);
  throw invalidArgument("INVALID_PARAMETER", `parameter '${name}' is a number, not ${JSON.stringify(v).slice(0, 40)}`);
}

/** A double as protobuf's JSON writes it: NaN and the infinities as text (JSON has no such numbers). */
export function doubleJson(v: number): Json {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
}

/** A repeated field: a list, one value, or absent (empty). */
export function listOf(fields: Record<string, Json>, name: string): Json[] {
  const v = fields[name];
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** A message field: an object, or undefined when absent. */
export function objectAt(fields: Record<string, Json>, name: string): Record<string, Json> | undefined {
  const v = fields[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw invalidArgument("INVALID_PARAMETER", `parameter '${name}' is an object`);
  return v;
}

export function requiredObject(fields: Record<string, Json>, name: string): Record<string, Json> {
  const v = objectAt(fields, name);
  if (!v) throw invalidArgument("MISSING_PARAMETER", `Missing value for required parameter '${name}'.`);
  return v;
}

/** A repeated message field: each entry an object (`what` says what else, for the error). */
export function objectsOf(fields: Record<string, Json>, name: string, what = "an object"): Record<string, Json>[] {
  return listOf(fields, name).map((entry, i) => {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) throw invalidArgument("INVALID_PARAMETER", `${name}[${i}] is ${what}`);
    return entry;
  });
}

/** A repeated message field of `{key, value}` entries (MLflow's tags and params). */
export function keyValues(fields: Record<string, Json>, name: string): { key: string; value: string }[] {
  return objectsOf(fields, name, "an object with a key and a value").map((entry, i) => {
    const key = requiredText(entry, "key");
    const value = entry.value ?? "";
    if (typeof value !== "string") throw invalidArgument("INVALID_PARAMETER", `${name}[${i}].value is a string`);
    return { key, value };
  });
}

/** Tags or params as MLflow's JSON lists them: `[{key, value}]`. */
export function keyValueList(entries: Iterable<[string, string]>): Json {
  return [...entries].map(([key, value]) => ({ key, value }));
}

const MAX_TAG_KEY_CHARS = 250;
/** An experiment's tag value; a registered model's and a version's take more (MLFLOW_REGISTRY_TAG_VALUE_CHARS). */
const MAX_TAG_VALUE_CHARS = 5000;
/** MLflow 3's bound for the registry's tags, which hold a prompt's template. */
export const MLFLOW_REGISTRY_TAG_VALUE_CHARS = 100_000;

/**
 * An experiment's, a registered model's or a model version's tag, as MLflow bounds them: a
 * key of at most 250 characters and a value of at most `maxValueChars`. `reserved` is the
 * key Kiln keeps its own state under there, and why.
 */
export function checkTag(key: string, value: string, whose: string, reserved: { key: string; holds: string }, maxValueChars = MAX_TAG_VALUE_CHARS): void {
  if (key === reserved.key) throw invalidArgument("RESERVED_TAG", `the tag ${reserved.key} holds ${reserved.holds}`);
  if (key.length > MAX_TAG_KEY_CHARS) throw invalidArgument("KEY_TOO_LONG", `a tag's key is at most ${MAX_TAG_KEY_CHARS} characters`);
  if (value.length > maxValueChars) throw invalidArgument("VALUE_TOO_LONG", `${whose} tag's value is at most ${maxValueChars} characters`);
}

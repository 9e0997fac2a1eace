import { Code } from "@connectrpc/connect";
import { InvalidArgumentError } from "./errors.js";

/** The server's rule for ids (models, tags): checked here too so a bad ref fails before any call. */
const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const FULL_MODEL = /^projects\/[^/]+\/models\/[^/]+$/;
const FULL_VERSION = /^projects\/[^/]+\/models\/[^/]+\/versions\/[^/]+$/;

/** "churn" → "projects/{project}/models/churn"; full model names pass through. */
export function modelName(project: string, name: string): string {
  if (FULL_MODEL.test(name)) return name;
  if (!isId(name)) throw badRef(name, `invalid model name "${name}": use 1 to 128 letters, digits, "_", "-" or "." (not starting with "." or "-", no "..")`);
  return `projects/${project}/models/${name}`;
}

/**
 * A model ref as users write it: "churn" (latest), "churn:3" (a version) or "churn:prod"
 * (a tag) → "projects/{project}/models/churn/versions/{latest|3|prod}". Full model and
 * version names pass through.
 */
export function versionName(project: string, ref: string): string {
  if (FULL_VERSION.test(ref)) return ref;
  if (FULL_MODEL.test(ref)) return `${ref}/versions/latest`;
  const colon = ref.indexOf(":");
  const model = colon < 0 ? ref : ref.slice(0, colon);
  const version = colon < 0 ? "latest" : ref.slice(colon + 1);
  const expected = `expected NAME, NAME:VERSION or NAME:TAG`;
  if (!isId(model)) throw badRef(ref, `invalid model ref "${ref}": ${expected}`);
  const number = /^\d+$/.test(version);
  if (number ? Number(version) < 1 : !isId(version)) throw badRef(ref, `invalid model ref "${ref}": ${expected} (versions count from 1)`);
  return `${modelName(project, model)}/versions/${number ? String(Number(version)) : version}`;
}

/** "projects/p/models/churn/versions/3" → "churn"; a model name → its id. */
export function modelIdOf(name: string): string {
  return name.split("/")[3] ?? name;
}

function isId(s: string): boolean {
  return ID.test(s) && !s.includes("..");
}

function badRef(ref: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, Code.InvalidArgument, "INVALID_NAME", { ref });
}

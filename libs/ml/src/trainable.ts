import { createEstimator } from "./catalog.js";
import { MLError, ModelFormatError } from "./errors.js";
import { FORMAT, loadModel, type SerializedModel } from "./serialize.js";

/** sklearn and OmegaML users write fit_intercept; Kiln's estimators take fitIntercept (and a Pipeline's lr__fit_intercept, lr__fitIntercept). */
export function camelKeys(params: Record<string, unknown>): Record<string, unknown> {
  const camel = (part: string) => part.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k.split("__").map(camel).join("__"), v]));
}

/** An estimator by kind from params as users write them (snake_case or camelCase); errors name the params as given. */
export function estimatorFromParams(kind: string, params: Record<string, unknown>): ReturnType<typeof createEstimator> {
  try {
    return createEstimator(kind, camelKeys(params));
  } catch (e) {
    throw saidAsGiven(e, params);
  }
}

/** An error about a param (UNKNOWN_PARAMETER) names it as the user wrote it (fit_intercept), not as camelKeys made it (fitIntercept). */
export function saidAsGiven(e: unknown, params: Record<string, unknown>): unknown {
  if (!(e instanceof MLError) || e.reason !== "UNKNOWN_PARAMETER") return e;
  for (const given of Object.keys(params)) {
    const camel = Object.keys(camelKeys({ [given]: null }))[0]!;
    if (camel !== given) e.message = e.message.replace(`"${camel}"`, `"${given}"`);
  }
  return e;
}

/**
 * Checks a kiln.ml/v1 document as the runtime will fit it: an untrained one (no state) names
 * a known estimator and only its params (snake_case or camelCase); one with state loads.
 * Throws ModelFormatError or the estimator's own error, each with a stable reason
 * (UNKNOWN_FORMAT, UNKNOWN_ESTIMATOR, UNKNOWN_PARAMETER, ...). Param values are checked when
 * the model is fitted.
 */
export function checkTrainable(doc: unknown): void {
  const m = doc as Partial<SerializedModel> | null;
  if (typeof m !== "object" || m === null || Array.isArray(m)) throw new ModelFormatError(`a ${FORMAT} model is a JSON object, got ${Array.isArray(m) ? "an array" : m === null ? "null" : typeof m}`, "UNKNOWN_FORMAT");
  if (m.format !== FORMAT) throw new ModelFormatError(`not a ${FORMAT} model (format ${JSON.stringify(m.format)})`, "UNKNOWN_FORMAT");
  if (typeof m.kind !== "string") throw new ModelFormatError(`a ${FORMAT} model names its estimator in "kind"`, "UNKNOWN_FORMAT");
  const params = m.params ?? {};
  if (typeof params !== "object" || Array.isArray(params)) throw new ModelFormatError(`"params" is an object of the estimator's params`, "UNKNOWN_FORMAT");
  if (m.state == null) estimatorFromParams(m.kind, params as Record<string, unknown>);
  else loadModel(m as SerializedModel);
}

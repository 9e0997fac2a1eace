import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "@kiln/core";
import type { ModelVersion } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { TrackingDeps } from "./deps.js";
import { upload, type NewVersion } from "./mlflow-model-upload.js";

const IS_PROMPT_TAG = "mlflow.prompt.is_prompt";
export const PROMPT_FORMAT = "mlflow-prompt";
const TEXT_TAG = "mlflow.prompt.text";
const TYPE_TAG = "_mlflow_prompt_type";

/** Whether a version is a prompt's (MLflow 3's prompt registry): its tags say so, whatever its source ("dummy-source", "prompt-template"). */
export function isPromptVersion(tags: { key: string; value: string }[]): boolean {
  return tags.some((t) => t.key === IS_PROMPT_TAG && t.value === "true");
}

/**
 * Stores a prompt's version: its template as the version's file (prompt.txt, or a chat's
 * messages as prompt.json), so that Kiln keeps it like any version, numbered and immutable.
 * MLflow reads the template from the version's tags, which keep it too.
 */
export async function storePromptVersion(deps: TrackingDeps, v: NewVersion): Promise<ModelVersion> {
  const template = textTag(v.metadata, TEXT_TAG);
  if (template === undefined) throw invalidArgument("PROMPT_TEXT_REQUIRED", `a prompt's version (tagged ${IS_PROMPT_TAG}) needs its template in the tag ${TEXT_TAG}`);
  const chat = textTag(v.metadata, TYPE_TAG) === "chat";
  const file = chat ? { fileName: "prompt.json", mediaType: "application/json" } : { fileName: "prompt.txt", mediaType: "text/plain; charset=utf-8" };
  return upload(deps, v, { format: PROMPT_FORMAT, ...file }, [new TextEncoder().encode(template)]);
}

function textTag(tags: JsonObject, key: string): string | undefined {
  const value = tags[key];
  return typeof value === "string" ? value : undefined;
}

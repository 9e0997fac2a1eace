import { checkId, invalidArgument, parseVersionNumber, printable } from "@kiln/core";

export interface ModelName {
  project: string;
  model: string;
  /** projects/{project}/models/{model} */
  name: string;
}

/** A version as named in a request: a number, a tag, or the latest. */
export type VersionRef = { kind: "number"; version: number } | { kind: "tag"; tag: string } | { kind: "latest" };

export function modelName(project: string, model: string): ModelName {
  checkId(project, "project");
  checkId(model, "model");
  return { project, model, name: `projects/${project}/models/${model}` };
}

export function parseModelName(name: string): ModelName {
  const m = /^projects\/([^/]*)\/models\/(.*)$/s.exec(name);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid model name "${printable(name)}": expected projects/{project}/models/{model}`);
  return modelName(m[1], m[2]);
}

/** `…/models/{m}/versions/{number|tag|latest}` */
export function parseVersionName(name: string): { model: ModelName; ref: VersionRef } {
  const m = /^(.*)\/versions\/([^/]+)$/s.exec(name);
  if (!m) {
    throw invalidArgument("INVALID_NAME", `invalid version name "${printable(name)}": expected projects/{p}/models/{m}/versions/{number|tag|latest}`);
  }
  return { model: parseModelName(m[1]), ref: parseVersionRef(m[2]) };
}

export function parseVersionRef(text: string): VersionRef {
  if (text === "latest") return { kind: "latest" };
  if (/^\d+$/.test(text)) {
    const version = parseVersionNumber(text);
    if (version === 0) throw invalidArgument("INVALID_VERSION", "versions number from 1");
    return { kind: "number", version };
  }
  return { kind: "tag", tag: checkTag(text) };
}

/** Tags share ids' alphabet, and must not read as a version number or "latest". */
export function checkTag(tag: string): string {
  checkId(tag, "tag");
  if (/^\d+$/.test(tag) || tag === "latest") {
    throw invalidArgument("INVALID_TAG", `"${tag}" cannot be a tag: it reads as a version`, { tag });
  }
  return tag;
}

const FORMAT = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function checkFormat(format: string): string {
  if (!FORMAT.test(format)) {
    throw invalidArgument("INVALID_FORMAT", `invalid format "${printable(format)}": use lowercase letters, digits, ".", "_" or "-", e.g. "onnx" or "sklearn-pickle"`);
  }
  return format;
}

/** Attachment names are file names: no path separators, nothing hidden or special. */
export function checkAttachmentName(name: string): string {
  return checkId(name, "attachment");
}

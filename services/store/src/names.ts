import { invalidArgument } from "@kiln/core";

/** A dataset or project id: letters, digits, `_`, `-`, `.`; no `..`; 1–128 chars. */
const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DEFAULT_PROJECT = "projects/default";

export interface DatasetName {
  project: string;
  dataset: string;
  /** projects/{project}/datasets/{dataset} */
  name: string;
}

export function checkId(id: string, what: string): string {
  if (!ID.test(id) || id.includes("..")) {
    throw invalidArgument(
      "INVALID_NAME",
      `invalid ${what} "${printable(id)}": use 1 to 128 letters, digits, "_", "-" or "." (not starting with "." or "-", no "..")`,
      { [what]: printable(id) },
    );
  }
  return id;
}

export function parseParent(parent: string): string {
  if (!parent) return DEFAULT_PROJECT;
  const m = /^projects\/([^/]*)$/.exec(parent);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid parent "${printable(parent)}": expected projects/{project}`);
  checkId(m[1], "project");
  return parent;
}

export function datasetName(project: string, dataset: string): DatasetName {
  checkId(project, "project");
  checkId(dataset, "dataset");
  return { project, dataset, name: `projects/${project}/datasets/${dataset}` };
}

export function parseDatasetName(name: string): DatasetName {
  const m = /^projects\/([^/]*)\/datasets\/(.*)$/s.exec(name);
  if (!m) {
    throw invalidArgument("INVALID_NAME", `invalid dataset name "${printable(name)}": expected projects/{project}/datasets/{dataset}`);
  }
  return datasetName(m[1], m[2]);
}

/** `…/datasets/{d}/versions/{n|latest}` → dataset and version (0 for latest). */
export function parseVersionName(name: string): { dataset: DatasetName; version: number } {
  const m = /^(.*)\/versions\/([^/]+)$/s.exec(name);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid version name "${printable(name)}": expected …/datasets/{dataset}/versions/{version}`);
  return { dataset: parseDatasetName(m[1]), version: m[2] === "latest" ? 0 : parseVersionNumber(m[2]) };
}

export function parseVersionNumber(text: string | number | bigint): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument("INVALID_VERSION", `invalid version "${String(text)}"`);
  return n;
}

/** Version keys sort by number because they are zero-padded. */
export function versionKey(dataset: string, version: number): string {
  return `${dataset}/versions/${String(version).padStart(10, "0")}`;
}

export function versionPrefix(dataset: string): string {
  return `${dataset}/versions/`;
}

function printable(s: string): string {
  const shown = s.length > 80 ? s.slice(0, 80) + "…" : s;
  return shown.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

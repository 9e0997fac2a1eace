import { checkId, invalidArgument, parseVersionNumber, printable } from "@kiln/core";

export interface DatasetName {
  project: string;
  dataset: string;
  /** projects/{project}/datasets/{dataset} */
  name: string;
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

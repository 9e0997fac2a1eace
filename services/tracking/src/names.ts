import { checkId, invalidArgument, parseParent, printable } from "@kiln/core";

export function experimentName(project: string, id: string): string {
  return `${project}/experiments/${checkId(id, "experiment")}`;
}

/** `projects/{p}/experiments/{e}` → itself, checked. */
export function parseExperimentName(name: string): { project: string; name: string; id: string } {
  const m = /^(projects\/[^/]+)\/experiments\/([^/]+)$/.exec(name);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid experiment "${printable(name)}": expected projects/{project}/experiments/{experiment}`);
  parseParent(m[1]!);
  checkId(m[2]!, "experiment");
  return { project: m[1]!, name, id: m[2]! };
}

/** `projects/{p}/experiments/{e}/runs/{n}` → experiment and run number. */
export function parseRunName(name: string): { experiment: string; run: number } {
  const m = /^(projects\/[^/]+\/experiments\/[^/]+)\/runs\/(\d+)$/.exec(name);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid run "${printable(name)}": expected projects/{p}/experiments/{e}/runs/{number}`);
  parseExperimentName(m[1]!);
  return { experiment: m[1]!, run: Number(m[2]) };
}

export function runName(experiment: string, run: number): string {
  return `${experiment}/runs/${run}`;
}

/** Runs keyed so a prefix scan lists them in number order. */
export function runKey(experiment: string, run: number): string {
  return `${experiment}/runs/${String(run).padStart(10, "0")}`;
}

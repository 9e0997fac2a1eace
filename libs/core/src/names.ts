import { invalidArgument } from "./errors.js";

/** A resource id (project, dataset, model, tag...): letters, digits, `_`, `-`, `.`; no `..`; 1–128 chars. */
const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DEFAULT_PROJECT = "projects/default";

export function isId(id: string): boolean {
  return ID.test(id) && !id.includes("..");
}

export function checkId(id: string, what: string): string {
  if (!isId(id)) {
    throw invalidArgument(
      "INVALID_NAME",
      `invalid ${what} "${printable(id)}": use 1 to 128 letters, digits, "_", "-" or "." (not starting with "." or "-", no "..")`,
      { [what]: printable(id) },
    );
  }
  return id;
}

/** A list's parent for every project (AIP-159's wildcard). */
export const ALL_PROJECTS = "projects/-";

/** `projects/{project}`; empty means the default project. */
export function parseParent(parent: string): string {
  if (!parent) return DEFAULT_PROJECT;
  const m = /^projects\/([^/]*)$/.exec(parent);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid parent "${printable(parent)}": expected projects/{project}`);
  checkId(m[1], "project");
  return parent;
}

export function parseVersionNumber(text: string | number | bigint): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument("INVALID_VERSION", `invalid version "${String(text)}"`);
  return n;
}

/** Version keys sort by number because they are zero-padded. */
export function versionKey(parent: string, version: number): string {
  return `${parent}/versions/${String(version).padStart(10, "0")}`;
}

export function versionPrefix(parent: string): string {
  return `${parent}/versions/`;
}

/** A name as it can be shown in an error: cut short, control characters escaped. */
export function printable(s: string): string {
  const shown = s.length > 80 ? s.slice(0, 80) + "…" : s;
  return shown.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

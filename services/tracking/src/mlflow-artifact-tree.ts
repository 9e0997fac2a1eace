import { TRACE_SPANS_KIND, type StoredArtifact } from "./records.js";

export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

/** The entries right under `dir` ("" for the root): files with their sizes, and folders once each. A file's own path has none. */
export function entriesUnder(artifacts: Map<string, StoredArtifact>, dir: string): FileInfo[] {
  if (dir && artifacts.has(dir)) return [];
  const prefix = dir ? `${dir}/` : "";
  const entries = new Map<string, FileInfo>();
  for (const [key, a] of artifacts) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash >= 0) entries.set(rest.slice(0, slash), { path: rest.slice(0, slash), is_dir: true });
    else if (!entries.has(rest)) entries.set(rest, { path: rest, is_dir: false, file_size: a.kind === "file" || a.kind === TRACE_SPANS_KIND ? a.size : textOf(a).length });
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}


/** The same, named by their paths from the root (as the tracking API's lists name them), for a `dir` as a request gives it. */
export function entriesFromRoot(artifacts: Map<string, StoredArtifact>, dirAsGiven: string): FileInfo[] {
  const dir = dirAsGiven.replace(/^\/+|\/+$/g, "");
  return entriesUnder(artifacts, dir).map((f) => ({ ...f, path: dir ? `${dir}/${f.path}` : f.path }));
}

/** What an artifact that is not a file reads as: a JSON value's text, or the JSON of a reference to a model or dataset. */
export function textOf(a: StoredArtifact): Buffer {
  return Buffer.from(a.kind === "json" ? a.ref : JSON.stringify({ kind: a.kind, ref: a.ref, name: a.name }), "utf8");
}

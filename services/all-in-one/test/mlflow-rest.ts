import { expect } from "vitest";

export type Body = Record<string, unknown>;
export type Reply = { status: number; body: Body };

/**
 * MLflow's REST API as MLflow's Python client calls it (rest_store.py): GETs with their
 * fields as query parameters, POSTs, PATCHes and DELETEs with JSON bodies, errors read
 * from {error_code, message}. `url()` is read per call (servers start in beforeAll).
 */
export function mlflowRest(url: () => string) {
  /** A path under `/api/2.0/`, or under `/api/3.0/` when it starts with "3.0/". */
  const api = (path: string, project?: string) => new URL(`${project ? `/projects/${project}` : ""}/api/${path.startsWith("3.0/") ? path : `2.0/${path}`}`, url());
  const get = async (path: string, fields: Record<string, string | string[]> = {}, project?: string): Promise<Reply> => {
    const target = api(path, project);
    for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) target.searchParams.append(k, one);
    const res = await fetch(target);
    return { status: res.status, body: (await res.json()) as Body };
  };
  const send = async (method: string, path: string, body: Body, project?: string): Promise<Reply> => {
    const res = await fetch(api(path, project), { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Body };
  };
  const post = (path: string, body: Body, project?: string) => send("POST", path, body, project);
  /** The answer of a call that must succeed. */
  const ok = async (reply: Promise<Reply>) => {
    const { status, body } = await reply;
    expect(status, JSON.stringify(body)).toBe(200);
    return body as Record<string, any>;
  };
  /** Uploads a run's or logged model's file as the client's proxied artifact repository does. */
  const putArtifact = async (artifactUri: string, path: string, body: Uint8Array | string) => {
    const res = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${artifactUri.slice("mlflow-artifacts:/".length)}/${path}`, url()), { method: "PUT", body });
    expect(res.status, await res.clone().text()).toBe(200);
  };
  return { api, get, send, post, ok, putArtifact };
}

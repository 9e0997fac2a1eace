import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { isKilnError, pathPart, readJsonObject, sendJson, type HttpAccess, type HttpRequest, type HttpRoute, type Json } from "@kiln/core";
import type { Scheduler } from "./job-store.js";

export { pathPart, type Json } from "@kiln/core";

/** A request body at most: an online prediction carries about 1 MB of rows as Arrow, several times that as JSON numbers. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * An inference protocol's REST form under `prefix`: `answer` gives the JSON body of a 200;
 * errors are `{"error": "..."}` with the HTTP status of their code.
 */
export function jsonRoute(s: Scheduler, prefix: string, access: (rest: string) => HttpAccess, answer: (rest: string, req: HttpRequest) => Promise<Json>): HttpRoute {
  return {
    prefix,
    methods: ["GET", "HEAD", "POST"],
    access,
    handle(rest, req, res) {
      void answer(rest, req).then(
        (body) => sendJson(res, 200, body),
        (e: unknown) => {
          if (!isKilnError(e)) s.logger.error({ err: e, path: rest }, "an inference request failed");
          sendJson(res, isKilnError(e) ? codeToHttpStatus(e.code) : 500, { error: isKilnError(e) ? e.message : "internal error" });
        },
      );
    },
  };
}

/**
 * What a model's routes need: read in its project, "projects/p/…" or the default one
 * (undefined: a path that names none, or names it wrongly, answered once a token is shown).
 */
export function modelAccess(model: () => string | undefined): HttpAccess {
  let name: string | undefined;
  try {
    name = model();
  } catch {
    return { role: "read" }; // a bad path: answered 400 once a token is shown
  }
  const project = /^projects\/([^/]*)/.exec(name ?? "")?.[1] ?? "default";
  return { role: "read", projects: [project] };
}

/** The body as a JSON object; `what` says what it holds, for the error. */
export function readJson(req: HttpRequest, what: string): Promise<Record<string, Json>> {
  return readJsonObject(req, what, MAX_BODY_BYTES);
}

/** An inference graph's name as a REST path gives it in plain segments (`inferenceGraphs/{id}`, its project's before), decoded; undefined for another path. */
export function graphInPath(segments: string): string | undefined {
  return /^(?:projects\/[^/]+\/)?inferenceGraphs\/[^/]+$/.test(segments) ? segments.split("/").map(pathPart).join("/") : undefined;
}


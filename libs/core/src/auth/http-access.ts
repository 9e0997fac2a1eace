import { Code } from "@connectrpc/connect";
import { isKilnError } from "../errors.js";
import type { Authorizer } from "./authorizer.js";
import type { Role } from "./token.js";

/** What a plain HTTP request needs: a role, in these projects (none: any one will do). */
export type HttpAccess = { role: "open" } | { role: Role; projects?: readonly string[] };

/** Reads (GET, HEAD) need read, the rest write; chunks are named by their hash, not by a project. */
export function defaultHttpAccess(method: string): HttpAccess {
  return { role: method === "GET" || method === "HEAD" ? "read" : "write" };
}

/**
 * The token check of a plain HTTP route: undefined when the request may go on, else the
 * status and text to answer with (401 with a Bearer challenge, or 403).
 */
export async function httpDenial(authorizer: Authorizer, access: HttpAccess, authorization: string | undefined, what: string): Promise<{ status: number; message: string } | undefined> {
  if (access.role === "open") return undefined;
  try {
    const claims = await authorizer.authenticate(authorization);
    authorizer.authorize(claims, { role: access.role, projects: new Set(access.projects ?? []), what });
    return undefined;
  } catch (e) {
    if (!isKilnError(e)) throw e;
    return { status: e.code === Code.Unauthenticated ? 401 : 403, message: e.message };
  }
}

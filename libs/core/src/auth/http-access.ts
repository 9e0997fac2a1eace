import { Code } from "@connectrpc/connect";
import { isKilnError } from "../errors.js";
import type { Authorizer } from "./authorizer.js";
import type { Role, TokenClaims } from "./token.js";

/** What a plain HTTP request needs: a role, in these projects (none: any one will do). */
export type HttpAccess = { role: "open" } | { role: Role; projects?: readonly string[] };

/** Reads (GET, HEAD) need read, the rest write; chunks are named by their hash, not by a project. */
export function defaultHttpAccess(method: string): HttpAccess {
  return { role: method === "GET" || method === "HEAD" ? "read" : "write" };
}

/** A plain HTTP request's token check: allowed, with the token's claims, or the status and text to answer with. */
export type HttpCheck = { allowed: true; claims?: TokenClaims } | { allowed: false; status: number; message: string };

/**
 * The token check of a plain HTTP route: whether the request may go on, else the status
 * and text to answer with (401 with a Bearer challenge, or 403). A token also comes
 * as the password of Basic credentials, for clients that send only those (MLflow's with
 * MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD); the user name is not read.
 */
export async function checkHttpAccess(authorizer: Authorizer, access: HttpAccess, authorization: string | undefined, what: string): Promise<HttpCheck> {
  if (access.role === "open") return { allowed: true };
  try {
    const claims = await authorizer.authenticate(bearerOf(authorization));
    authorizer.authorize(claims, { role: access.role, projects: new Set(access.projects ?? []), what });
    return { allowed: true, claims };
  } catch (e) {
    if (!isKilnError(e)) throw e;
    return { allowed: false, status: e.code === Code.Unauthenticated ? 401 : 403, message: e.message };
  }
}

/** Basic credentials as the bearer token their password is; anything else as it came. */
function bearerOf(authorization: string | undefined): string | undefined {
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? "");
  if (!basic) return authorization;
  const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? authorization : `Bearer ${decoded.slice(colon + 1)}`;
}

import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { TokenClaims } from "./token.js";

/** The verified claims of the call's token, set by the auth interceptor; undefined where tokens are not checked. */
export const CALLER = createContextKey<TokenClaims | undefined>(undefined, { description: "the caller's token claims" });

/** Who makes this call, as records keep it (a job's creator, a version's): the token's subject, or "" without token checks. */
export function callerOf(ctx: Pick<HandlerContext, "values">): string {
  return ctx.values.get(CALLER)?.sub ?? "";
}

const httpCallers = new WeakMap<object, TokenClaims>();

/** Records whose token a plain HTTP request carried, once it is checked (the server does). */
export function setHttpCaller(req: object, claims: TokenClaims | undefined): void {
  if (claims) httpCallers.set(req, claims);
}

/** As callerOf, for a plain HTTP request: its token's subject, or "" without token checks. */
export function httpCallerOf(req: object): string {
  return httpCallers.get(req)?.sub ?? "";
}

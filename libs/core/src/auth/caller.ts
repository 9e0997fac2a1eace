import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { TokenClaims } from "./token.js";

/** The verified claims of the call's token, set by the auth interceptor; undefined where tokens are not checked. */
export const CALLER = createContextKey<TokenClaims | undefined>(undefined, { description: "the caller's token claims" });

/** Who makes this call, as records keep it (a job's creator, a version's): the token's subject, or "" without token checks. */
export function callerOf(ctx: Pick<HandlerContext, "values">): string {
  return ctx.values.get(CALLER)?.sub ?? "";
}

import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { isKilnError, permissionDenied } from "../errors.js";
import { projectsTouched, type Authorizer } from "./authorizer.js";
import { CALLER } from "./caller.js";
import { methodAccess } from "./method-access.js";
import { projectsNamed } from "./projects-named.js";

/**
 * Every RPC's token check. A request stream (an upload) is checked message by message as
 * the handler reads it, so a message naming a project the token does not reach fails the
 * call before anything of it is stored (the name comes first). The log keeps who deleted
 * what (info; other changes at debug) and every refusal (warn).
 */
export function authInterceptor(authorizer: Authorizer, logger: Logger): Interceptor {
  return (next) => async (req) => {
    const what = `${req.method.parent.name}/${req.method.name}`;
    const access = methodAccess(req.method.parent.typeName, req.method.name);
    if (access && access.role === "open") return next(req);
    let subject: string | undefined;
    const refused = (e: unknown): never => {
      if (isKilnError(e)) logger.warn({ subject, procedure: what, reason: e.reason }, "call refused");
      throw e;
    };
    /** Runs a check; a refusal is logged with who was refused, then thrown. */
    const checked = <T>(decide: () => T): T => {
      try {
        return decide();
      } catch (e) {
        return refused(e);
      }
    };
    const claims = await authorizer.authenticate(req.header.get("authorization")).catch(refused);
    subject = claims.sub;
    if (!access) {
      return checked(() => {
        throw permissionDenied("METHOD_NOT_ALLOWED", `${what} is not open to any token`);
      });
    }
    req.contextValues.set(CALLER, claims);
    const role = access.role;
    const check = (message: unknown) =>
      checked(() => {
        const projects = access.unscoped ? new Set<string>() : projectsTouched(projectsNamed(message));
        authorizer.authorize(claims, { role, what, projects });
        // Deletes and purges at info; writes (uploads' pieces, event batches) and executors' heartbeats would flood it.
        if (role === "admin") logger.info({ subject, procedure: what, projects: [...projects] }, "call");
        else if (role !== "read") logger.debug({ subject, procedure: what, projects: [...projects] }, "call");
      });
    if (!req.stream) {
      check(req.message);
      return next(req);
    }
    checked(() => authorizer.authorize(claims, { role, what, projects: new Set() }));
    return next({ ...req, message: checkedAsRead(req.message, check) });
  };
}

/** The messages of a request stream, the first one and any naming a project checked as the handler reads them. */
async function* checkedAsRead<T>(messages: AsyncIterable<T>, check: (message: T) => void): AsyncGenerator<T> {
  let first = true;
  for await (const message of messages) {
    // Later messages of an upload carry data under the first one's name, and name no project themselves.
    if (first || projectsNamed(message).size > 0) check(message);
    first = false;
    yield message;
  }
}

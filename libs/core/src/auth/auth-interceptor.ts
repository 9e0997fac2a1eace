import type { Interceptor } from "@connectrpc/connect";
import { permissionDenied } from "../errors.js";
import { projectsTouched, type Authorizer } from "./authorizer.js";
import { methodAccess } from "./method-access.js";
import { projectsNamed } from "./projects-named.js";
import { CALLER } from "./caller.js";

/**
 * Every RPC's token check. A request stream (an upload) is checked message by message as
 * the handler reads it, so a message naming a project the token does not reach fails the
 * call before anything of it is stored (the name comes first).
 */
export function authInterceptor(authorizer: Authorizer): Interceptor {
  return (next) => async (req) => {
    const service = req.method.parent.typeName;
    const what = `${req.method.parent.name}/${req.method.name}`;
    const access = methodAccess(service, req.method.name);
    if (access && access.role === "open") return next(req);
    const claims = authorizer.authenticate(req.header.get("authorization"));
    if (!access) throw permissionDenied("METHOD_NOT_ALLOWED", `${what} is not open to any token`);
    req.contextValues.set(CALLER, claims);
    const role = access.role;
    const check = (message: unknown) => authorizer.authorize(claims, { role, what, projects: access.unscoped ? new Set() : projectsTouched(projectsNamed(message)) });
    if (!req.stream) {
      check(req.message);
      return next(req);
    }
    authorizer.authorize(claims, { role, what, projects: new Set() });
    const messages = req.message;
    return next({
      ...req,
      message: (async function* () {
        let first = true;
        for await (const message of messages) {
          // Later messages of an upload carry data under the first one's name, and name no project themselves.
          const named = projectsNamed(message);
          if (first || named.size > 0) check(message);
          first = false;
          yield message;
        }
      })(),
    });
  };
}

import type { Interceptor } from "@connectrpc/connect";
import { ConnectError, Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { KilnError, toConnectError } from "./errors.js";

/**
 * The one place internal errors become wire errors. Unexpected errors are logged with
 * their stack here and reach the caller only as "internal error".
 */
export function errorInterceptor(logger: Logger): Interceptor {
  const map = (e: unknown, procedure: string): ConnectError => {
    if (!(e instanceof KilnError) && !(e instanceof ConnectError)) {
      logger.error({ err: e, procedure }, "unexpected error");
    } else if (e instanceof ConnectError && e.code === Code.Internal) {
      logger.error({ err: e, procedure }, "internal error");
    }
    return toConnectError(e);
  };
  return (next) => async (req) => {
    const procedure = req.method.parent.typeName + "/" + req.method.name;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (e) {
            throw map(e, procedure);
          }
        })(),
      };
    } catch (e) {
      throw map(e, procedure);
    }
  };
}

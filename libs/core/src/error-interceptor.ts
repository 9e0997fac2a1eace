import type { Interceptor } from "@connectrpc/connect";
import { aroundCall } from "./around-call.js";
import { ConnectError, Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import { KilnError, toConnectError } from "./errors.js";
import { isStorageFull, storageFull } from "./storage-full.js";

/**
 * The one place internal errors become wire errors. Unexpected errors are logged with
 * their stack here and reach the caller only as "internal error".
 */
export function errorInterceptor(logger: Logger): Interceptor {
  const map = (e: unknown, procedure: string, signal: AbortSignal): ConnectError => {
    if (!(e instanceof KilnError) && !(e instanceof ConnectError)) {
      // A request stream cut off by the client (it cancelled, or its connection closed) is no fault here, and no one hears the answer.
      if (signal.aborted || (e as { code?: unknown } | undefined)?.code === "ERR_STREAM_PREMATURE_CLOSE") {
        logger.info({ procedure }, "the client went away before the call ended");
        return new ConnectError("the client went away", Code.Canceled);
      }
      if (isStorageFull(e)) {
        logger.error({ err: e, procedure }, "storage full");
        return toConnectError(storageFull());
      }
      logger.error({ err: e, procedure }, "unexpected error");
    } else if (e instanceof ConnectError && e.code === Code.Internal) {
      logger.error({ err: e, procedure }, "internal error");
    }
    return toConnectError(e);
  };
  return aroundCall((req) => {
    const procedure = req.method.parent.typeName + "/" + req.method.name;
    return { failed: (e) => map(e, procedure, req.signal) };
  });
}

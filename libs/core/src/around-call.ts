import type { Interceptor } from "@connectrpc/connect";

type Request = Parameters<Parameters<Interceptor>[0]>[0];

export interface CallHooks {
  /** The call finished: unary answered, or the response stream ended. */
  done?(): void;
  /** The call failed, before or while streaming; returns what to throw instead. */
  failed(error: unknown): unknown;
  /** Runs the handler, e.g. inside a tracing context. */
  run?<T>(handler: () => T): T;
}

/**
 * An interceptor that sees the whole call, also for server streams, whose errors
 * arrive only while the response is iterated.
 */
export function aroundCall(start: (req: Request) => CallHooks): Interceptor {
  return (next) => async (req) => {
    const hooks = start(req);
    try {
      const res = await (hooks.run ? hooks.run(() => next(req)) : next(req));
      if (!res.stream) {
        hooks.done?.();
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (e) {
            throw hooks.failed(e);
          }
          hooks.done?.();
        })(),
      };
    } catch (e) {
      throw hooks.failed(e);
    }
  };
}

import { EventEmitter, on } from "node:events";
import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "@kiln/proto/health/v1/health_pb";

export { ServingStatus };

/** Serving status per gRPC service name; "" is the whole server. */
export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>([["", ServingStatus.SERVING]]);
  private readonly changes = new EventEmitter();

  set(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    this.changes.emit("change", service);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Marks every known service NOT_SERVING (on shutdown). */
  drain(): void {
    for (const service of this.statuses.keys()) this.set(service, ServingStatus.NOT_SERVING);
  }

  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    let last: ServingStatus | undefined;
    const current = () => this.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
    last = current();
    yield last;
    try {
      for await (const [changed] of on(this.changes, "change", { signal })) {
        if (changed !== service) continue;
        const now = current();
        if (now !== last) yield (last = now);
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }
}

export function registerHealth(router: ConnectRouter, state: HealthState): void {
  router.service(Health, {
    check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status };
    },
    async *watch(req, ctx) {
      for await (const status of state.watch(req.service, ctx.signal)) yield { status };
    },
  });
}

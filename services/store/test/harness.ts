import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRouterTransport, type Transport } from "@connectrpc/connect";
import { createMemoryBus, type BusMessage, type EventBus } from "@kiln/bus";
import { createLogger, errorInterceptor, loadConfig } from "@kiln/core";
import { Kiln } from "@kiln/sdk";
import { openFsBlobStore, openSqliteMetadataStore } from "@kiln/storage";
import { prepareStore, register, type StoreDeps } from "../src/index.js";

export interface Harness {
  deps: StoreDeps;
  dir: string;
  /** SDK over an in-process transport (same interceptors as the real server). */
  kiln: Kiln;
  /** That transport. */
  transport: Transport;
  /** The same, writing by resumable upload instead of a client stream. */
  kilnResumable: Kiln;
  bus: EventBus;
  /** The SDK on a service whose clock the test controls. */
  kilnAt(now: () => Date): Promise<Kiln>;
  close(): Promise<void>;
}

/** Real embedded deps (SQLite file, blob folder, in-process bus) in a fresh temp folder. */
export async function startHarness(limits: Partial<StoreDeps["limits"]> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-store-"));
  const bus = createMemoryBus();
  const deps: StoreDeps = {
    metadata: openSqliteMetadataStore(join(dir, "store.sqlite")),
    blobs: openFsBlobStore(join(dir, "blobs")),
    bus,
    logger: createLogger("test", "silent"),
    limits: { ...loadConfig({}).limits, ...limits },
  };
  await prepareStore(deps);
  const transportFor = (d: StoreDeps) =>
    createRouterTransport((router) => register(router, d), {
      router: { interceptors: [errorInterceptor(d.logger)], readMaxBytes: d.limits.maxMessageBytes },
    });
  const transport = transportFor(deps);
  return {
    deps,
    dir,
    bus,
    transport,
    kiln: await Kiln.connect({ transport, writeMode: "stream" }),
    kilnResumable: await Kiln.connect({ transport, writeMode: "resumable" }),
    kilnAt: (now) => Kiln.connect({ transport: transportFor({ ...deps, now }), writeMode: "stream" }),
    async close() {
      await bus.close();
      await deps.blobs.close();
      await deps.metadata.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Collects `count` messages from a fresh durable consumer on the store stream. */
export async function takeEvents(bus: EventBus, count: number): Promise<BusMessage[]> {
  const sub = await bus.subscribe({ stream: "KILN_STORE", durable: `t${Math.random().toString(36).slice(2)}`, deliverPolicy: "all" });
  const out: BusMessage[] = [];
  for await (const m of sub) {
    m.ack();
    out.push(m);
    if (out.length === count) break;
  }
  await sub.stop();
  return out;
}

export function uniqueName(prefix = "ds"): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { createMemoryBus, type BusMessage, type EventBus } from "@kiln/bus";
import { createLogger, errorInterceptor, errorReason, loadConfig } from "@kiln/core";
import { startOnnxCheck } from "@kiln/onnx";
import { RegistryService, type UploadHeaderSchema } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { openFsBlobStore, openSqliteMetadataStore } from "@kiln/storage";
import { prepareRegistry, register, type RegistryDeps } from "../src/index.js";

export interface Harness {
  deps: RegistryDeps;
  dir: string;
  bus: EventBus;
  client: Client<typeof RegistryService>;
  /** The client on a service whose clock the test controls. */
  clientAt(now: () => Date): Client<typeof RegistryService>;
  /** The client on a service with some deps replaced. */
  clientWith(overrides: Partial<RegistryDeps>): Client<typeof RegistryService>;
  close(): Promise<void>;
}

/** Real embedded deps (SQLite file, blob folder, in-process bus, onnxruntime in a child process). */
export async function startHarness(limits: Partial<RegistryDeps["limits"]> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-registry-"));
  const bus = createMemoryBus();
  const deps: RegistryDeps = {
    metadata: openSqliteMetadataStore(join(dir, "registry.sqlite")),
    blobs: openFsBlobStore(join(dir, "blobs")),
    bus,
    logger: createLogger("test", "silent"),
    limits: { ...loadConfig({}).limits, ...limits },
    spoolDir: join(dir, "spool"),
    startOnnxCheck: () => startOnnxCheck(),
  };
  await prepareRegistry(deps);
  const clientFor = (d: RegistryDeps) =>
    createClient(
      RegistryService,
      createRouterTransport((router) => register(router, d), {
        router: { interceptors: [errorInterceptor(d.logger)], readMaxBytes: d.limits.maxMessageBytes },
      }),
    );
  return {
    deps,
    dir,
    bus,
    client: clientFor(deps),
    clientAt: (now) => clientFor({ ...deps, now }),
    clientWith: (overrides) => clientFor({ ...deps, ...overrides }),
    async close() {
      await bus.close();
      await deps.blobs.close();
      await deps.metadata.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type HeaderInit = MessageInitShape<typeof UploadHeaderSchema>;

/** One upload stream: a header, then the bytes in pieces of `pieceBytes`. */
export async function* uploadStream(header: HeaderInit, bytes: Uint8Array, pieceBytes = 64 * 1024) {
  yield { message: { case: "header" as const, value: { createModel: true, format: "onnx", ...header } } };
  for (let at = 0; at < bytes.length; at += pieceBytes) yield { message: { case: "chunk" as const, value: bytes.subarray(at, at + pieceBytes) } };
}

/** Every event on the registry stream so far (stops once none arrives for `idleMs`). */
export async function allEvents(bus: EventBus, idleMs = 300): Promise<BusMessage[]> {
  const sub = await bus.subscribe({ stream: "KILN_REGISTRY", durable: `t${Math.random().toString(36).slice(2)}`, deliverPolicy: "all" });
  const it = sub[Symbol.asyncIterator]();
  const out: BusMessage[] = [];
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<"idle">((resolve) => (timer = setTimeout(() => resolve("idle"), idleMs)));
    const next = await Promise.race([it.next(), idle]);
    clearTimeout(timer);
    if (next === "idle" || next.done) break;
    next.value.ack();
    out.push(next.value);
  }
  await sub.stop();
  return out;
}

export function uniqueName(prefix = "m"): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export async function codeOf(p: Promise<unknown>): Promise<{ code: Code; reason?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const ce = ConnectError.from(e);
    return { code: ce.code, reason: errorReason(ce), message: ce.rawMessage };
  }
  throw new Error("expected the call to fail");
}

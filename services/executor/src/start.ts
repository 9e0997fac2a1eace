import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { EventBus } from "@kiln/bus";
import { checkId, sendToken, type Logger, type RuntimeConfig } from "@kiln/core";
import { OnnxWorkerPool } from "@kiln/onnx";
import { ExecutorService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { Kiln } from "@kiln/sdk";
import { INGEST_STREAM } from "@kiln/contracts";
import { hostname } from "node:os";
import type { ExecutorDeps } from "./deps.js";
import { Executor } from "./executor.js";
import { directChunkReader, localChunkReader, type DirectReadEvents, type LocalBlobs } from "./local-chunks.js";
import { ModelCache } from "./model-cache.js";

/**
 * Rows per onnxruntime call within a model run (see OnnxWorkerPoolOptions.rowsPerRun): a
 * million-row predict through a 64-64 MLP took 0.17-0.19 s in pieces of 8,192 rows against
 * 0.25-0.30 s in runs of 131,072 (4,096 and 16,384 were no better); linear and forest
 * models were unchanged.
 */
const ROWS_PER_ONNX_RUN = 8192;

/** Embedded mode: the services in this process, reached without the network. */
export interface InProcessServices {
  /** The scheduler's executor calls. */
  control: Client<typeof ExecutorService>;
  /** Each chunk route's prefix and the blob store behind it. */
  blobs: Record<string, LocalBlobs>;
  /** The server's services without HTTP/2 on the loopback (each call there cost ~3 ms of a 25 ms small job). */
  transport: Transport;
}

/**
 * How an executor reaches the services: in-process (embedded mode), or over the network,
 * reading chunks straight from the services' blob stores (by chunk path prefix) before
 * trying HTTP when `directBlobs` names them.
 */
export type ServiceAccess = { inProcess: InProcessServices } | { directBlobs?: Record<string, LocalBlobs> };

export interface RunningExecutor {
  executor: Executor;
  deps: ExecutorDeps;
  stop(): Promise<void>;
}

/** Builds an executor from the runtime config (its own process, or embedded) and starts it. */
export async function startExecutor(config: RuntimeConfig, bus: EventBus, logger: Logger, access: ServiceAccess = {}): Promise<RunningExecutor> {
  const inProcess = "inProcess" in access ? access.inProcess : undefined;
  const directBlobs = "directBlobs" in access ? access.directBlobs : undefined;
  const id = config.executor.id || `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_.-]/g, "-");
  checkId(id, "executor");
  // Chunks read in place land in shared memory, so model runs lay out their columns in the ONNX workers.
  const kiln = await Kiln.connect(
    inProcess
      ? { transport: inProcess.transport, url: config.url, token: config.token ?? "", localChunks: localChunkReader(inProcess.blobs), sharedChunkMemory: true, writeMode: "stream" }
      : {
          url: config.url,
          token: config.token ?? "", // a service never sends a login stored for the user running it
          services: { store: config.storeUrl, registry: config.registryUrl, runtime: config.schedulerUrl },
          ...(directBlobs && { localChunks: directChunkReader(directBlobs, directReadLogging(logger)), sharedChunkMemory: true }),
        },
  );
  const grpc = (baseUrl: string) => createGrpcTransport({ baseUrl, readMaxBytes: 256 * 1024 ** 2, writeMaxBytes: 256 * 1024 ** 2, interceptors: sendToken(config.token) });
  const onnx = new OnnxWorkerPool({ size: Math.max(1, Math.min(config.executor.slots, 4)), intraOpNumThreads: 1, rowsPerRun: ROWS_PER_ONNX_RUN });
  const deps: ExecutorDeps = {
    name: `executors/${id}`,
    labels: config.executor.labels,
    slots: config.executor.slots,
    bus,
    logger: logger.child({ executor: id }),
    kiln,
    store: createClient(StoreService, inProcess?.transport ?? grpc(config.storeUrl)),
    control: inProcess?.control ?? createClient(ExecutorService, grpc(config.schedulerUrl)),
    onnx,
    models: new ModelCache(kiln, config.executor.modelCacheBytes),
    localChunks: Boolean(inProcess ?? directBlobs),
    jobAckWaitMs: config.jobAckWaitMs,
    heartbeatMs: config.heartbeatMs,
    requestLogFlushMs: config.executor.requestLogFlushMs,
  };
  await bus.ensureStream(INGEST_STREAM); // tracking of linked models' jobs, whether or not the tracking service is up yet
  const executor = new Executor(deps);
  await executor.start();
  return {
    executor,
    deps,
    async stop() {
      await executor.stop();
      await onnx.close();
      kiln.close();
    },
  };
}

/** Says once that chunks are read straight from the blob stores, and once that one had to come over HTTP (and why). */
function directReadLogging(logger: Logger): DirectReadEvents {
  let read = false;
  let missed = false;
  return {
    onRead() {
      if (!read) logger.info("reading chunks straight from the blob store");
      read = true;
    },
    onMiss(path, error) {
      if (!missed) logger.info({ path, reason: error instanceof Error ? error.message : String(error) }, "a chunk is not readable in the blob store; fetching such chunks over HTTP");
      missed = true;
    },
  };
}

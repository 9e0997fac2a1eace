import type { Client } from "@connectrpc/connect";
import type { EventBus } from "@kiln/bus";
import type { Logger } from "@kiln/core";
import type { OnnxWorkerPool } from "@kiln/onnx";
import type { ExecutorService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import type { Kiln } from "@kiln/sdk";
import type { ModelCache } from "./model-cache.js";

/** Everything an executor needs; its own process and embedded mode build it the same way. */
export interface ExecutorDeps {
  /** executors/{id} */
  name: string;
  labels: string[];
  slots: number;
  bus: EventBus;
  logger: Logger;
  /** Datasets and models (the SDK, over the network like any client). */
  kiln: Kiln;
  store: Client<typeof StoreService>;
  /** The scheduler's executor calls. */
  control: Client<typeof ExecutorService>;
  onnx: OnnxWorkerPool;
  models: ModelCache;
  /** Stored chunks are read straight from the services' blob stores (embedded, or KILN_EXECUTOR_DIRECT_BLOBS). */
  localChunks: boolean;
  /** The job queues' ack wait (KILN_JOB_ACK_WAIT_MS): messages are kept alive well within it. */
  jobAckWaitMs: number;
  /** Until the scheduler says otherwise. */
  heartbeatMs: number;
  /** How often deployments' request logs are written (KILN_REQUEST_LOG_FLUSH_MS). */
  requestLogFlushMs: number;
}

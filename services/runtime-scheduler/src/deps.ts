import type { Client } from "@connectrpc/connect";
import type { EventBus } from "@kiln/bus";
import type { Logger } from "@kiln/core";
import type { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import type { MetadataStore } from "@kiln/storage";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

export interface SchedulerSettings {
  /** How long a queued job's message may go unacknowledged before another executor gets it. */
  jobAckWaitMs: number;
  /** How often executors send heartbeats; three missed ones and an executor counts as gone. */
  heartbeatMs: number;
  /** How long result chunks stay readable on the bus. */
  resultsTtlMs: number;
  /** A temporary input older than this that no job still to end claims is dropped (a submit must take one within half of it). */
  temporaryTtlMs: number;
  /** Jobs that ended longer ago than this are deleted (KILN_JOB_RETENTION_MS); 0 keeps them. */
  jobRetentionMs: number;
  /** How long an online Predict waits for a deployment's executor to answer (KILN_PREDICT_TIMEOUT_MS). */
  predictTimeoutMs: number;
  /** Where webhooks may POST (KILN_WEBHOOK_NETWORKS, see WebhookNetworks). */
  webhookNetworks: "any" | "public";
}

/** Everything the scheduler needs; tests and production build it the same way. */
export interface SchedulerDeps {
  metadata: MetadataStore;
  bus: EventBus;
  logger: Logger;
  /** The store and the registry, to check a job's inputs and model at submit and drop temporary inputs. */
  store: Client<typeof StoreService>;
  registry: Client<typeof RegistryService>;
  settings: SchedulerSettings;
  now?: () => Date;
}

export const DEFAULT_MAX_ATTEMPTS = 3;
export const MAX_ATTEMPTS_LIMIT = 100;
/** First retry delay; doubles with every attempt, capped at RETRY_DELAY_MAX_MS. */
export const RETRY_DELAY_MS = 500;
export const RETRY_DELAY_MAX_MS = 30_000;

/** The kinds of jobs that train their model (and make a version of it). */
export const TRAINS = new Set([JobKind.FIT, JobKind.PARTIAL_FIT]);

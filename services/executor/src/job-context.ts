import type { Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ModelVersionInfo } from "@kiln/sdk";
import type { ExecutorDeps } from "./deps.js";
import { Stopped } from "./job-failure.js";
import type { ProgressReporter } from "./progress.js";
import type { ResultPublisher } from "./results.js";

/** One attempt of one job, as the runners see it. */
export interface JobContext {
  deps: ExecutorDeps;
  job: Job;
  attempt: number;
  signal: AbortSignal;
  progress: ProgressReporter;
  results: ResultPublisher;
  /** The job's model version, fetched once per attempt (runners and tracking share it). */
  model(): Promise<ModelVersionInfo>;
}

/** Throws Stopped when the job was cancelled or timed out; runners call it between steps. */
export function checkStopped(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Stopped ? signal.reason : new Stopped("cancelled");
}

import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { invalidArgument, isKilnError } from "@kiln/core";
import {
  ExecutorSchema,
  HeartbeatResponseSchema,
  JobQueueSchema,
  type Executor,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type ListExecutorsRequest,
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { scanPage } from "@kiln/storage";
import { isFinal, nowOf, readJob, type Scheduler } from "./job-store.js";
import type { SchedulerDeps } from "./deps.js";
import { parseExecutorName } from "./names.js";
import { normalizeLabels, queuesServedBy } from "./queues.js";
import { sweepTemporaries } from "./temporaries.js";
import { sweepExpiredJobs } from "./job-deletion.js";
import { sweepSuccessors } from "./successors.js";
import { sweepRequestLogs } from "./request-log-retention.js";
import { sweepHolds } from "./model-version-holds.js";
import { RESULTS_STREAM, RESULTS_SUBJECT_PREFIX } from "@kiln/contracts";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { deploymentsServedBy } from "./assignments.js";

interface ExecutorRecord {
  executor: JsonValue;
  /** Last heartbeat, ms since the epoch. */
  seenAt: number;
}

/** Missed heartbeats before an executor no longer counts as alive. */
const MISSED_BEATS = 3;
/** How long the record of an executor that stopped is kept. */
const FORGET_AFTER_MS = 24 * 3_600_000;

function executors(s: SchedulerDeps) {
  return s.metadata.collection<ExecutorRecord>("runtime_executors");
}

/** Registers or refreshes an executor; answers with its queues and its jobs that were cancelled. */
export async function heartbeat(s: Scheduler, req: HeartbeatRequest): Promise<HeartbeatResponse> {
  if (!req.executor) throw invalidArgument("EXECUTOR_REQUIRED", "heartbeat needs the executor");
  const now = nowOf(s);
  const executor = create(ExecutorSchema, {
    ...req.executor,
    name: parseExecutorName(req.executor.name),
    labels: normalizeLabels(req.executor.labels),
    lastHeartbeat: timestampFromDate(now),
  });
  if (executor.slots < 1) throw invalidArgument("INVALID_SLOTS", "an executor needs at least one slot");
  await saveExecutor(s, executor, now.getTime());
  // Heartbeats come steadily, busy or idle: the sweeps of old temporary inputs, of expired jobs and of waiting jobs ride on them.
  void sweepTemporaries(s).catch((e: unknown) => s.logger.warn({ err: e }, "the sweep of temporary inputs failed; the next one tries again"));
  void sweepExpiredJobs(s).catch((e: unknown) => s.logger.warn({ err: e }, "the sweep of expired jobs failed; the next one tries again"));
  void sweepSuccessors(s).catch((e: unknown) => s.logger.warn({ err: e }, "the sweep of waiting jobs failed; the next one tries again"));
  void sweepRequestLogs(s).catch((e: unknown) => s.logger.warn({ err: e }, "the sweep of request logs failed; the next one tries again"));
  void sweepHolds(s).catch((e: unknown) => s.logger.warn({ err: e }, "the sweep of model version holds failed; the next one tries again"));
  const [queues, deployments] = await Promise.all([queuesServedBy(s, executor.labels), deploymentsServedBy(s, executor)]);
  const cancelledJobs: string[] = [];
  for (const name of executor.runningJobs) {
    const job = await readJob(s, name).catch(() => undefined);
    if (!job || isFinal(job.job.state)) cancelledJobs.push(name);
  }
  return create(HeartbeatResponseSchema, {
    queues: queues.map((q) => create(JobQueueSchema, q)),
    cancelledJobs,
    interval: durationFromMs(s.settings.heartbeatMs),
    resultsStream: RESULTS_STREAM.name,
    resultsSubjectPrefix: RESULTS_SUBJECT_PREFIX,
    deployments,
  });
}

async function saveExecutor(s: Scheduler, executor: Executor, seenAt: number): Promise<void> {
  const record = { executor: toJson(ExecutorSchema, executor), seenAt };
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await executors(s).get(executor.name);
    try {
      if (stored) await executors(s).update(executor.name, record, stored.rev);
      else {
        await executors(s).create(executor.name, record);
        await forgetGone(s, seenAt); // a new executor (each process start names one) is when old ones pile up
      }
      return;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted) && !isKilnError(e, Code.AlreadyExists)) throw e;
    }
  }
}

/** Records of executors not heard from for a day: ListExecutors no longer shows them, and nothing else reads them. */
async function forgetGone(s: Scheduler, now: number): Promise<void> {
  for (const { key, value, rev } of await executors(s).list({ prefix: "executors/" })) {
    if (value.seenAt < now - FORGET_AFTER_MS) await executors(s).delete(key, rev).catch(() => {});
  }
}

/** Whether an executor's record says it was heard from within the last few heartbeats. */
function aliveNow(s: SchedulerDeps): (record: ExecutorRecord) => boolean {
  const since = nowOf(s).getTime() - MISSED_BEATS * s.settings.heartbeatMs;
  return (record) => record.seenAt >= since;
}

/** Every executor heard from within the last few heartbeats. */
export async function aliveExecutors(s: SchedulerDeps): Promise<Executor[]> {
  const alive = aliveNow(s);
  const all = await executors(s).list({ prefix: "executors/" });
  return all.filter((r) => alive(r.value)).map((r) => fromJson(ExecutorSchema, r.value.executor));
}

/** Executors heard from within the last few heartbeats, by name. */
export async function listExecutors(s: Scheduler, req: ListExecutorsRequest): Promise<{ executors: Executor[]; nextPageToken: string }> {
  const page = await scanPage(executors(s), {
    prefix: "executors/",
    pageSize: req.pageSize,
    pageToken: req.pageToken,
    filterText: "alive",
    matches: aliveNow(s),
  });
  return { executors: page.items.map((r) => fromJson(ExecutorSchema, r.executor)), nextPageToken: page.nextPageToken };
}

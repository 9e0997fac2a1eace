import { fromBinary, fromJson, toBinary, type JsonValue } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { TimestampSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { aborted, notFound } from "@kiln/core";
import { JobSchema, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { SchedulerDeps } from "./deps.js";
import { indexNewJobs, unindexJobs, unmarkOpen } from "./job-indexes.js";
import { settleSuccessors } from "./successors.js";
import { dropTemporaryInputs } from "./temporaries.js";
import type { JobWatchers } from "./watchers.js";
import type { Recent, RecentByKey } from "./recent.js";
import type { GraphStats } from "./inference-graph-stats.js";
import type { Executor } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import type { Webhook } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import type { InferenceGraph } from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";

export { RUNTIME_EVENT_STREAM as EVENT_STREAM } from "@kiln/contracts";

export type JobTransition = "queued" | "released" | "started" | "requeued" | "succeeded" | "failed" | "cancelled";

/**
 * A stored job: the Job message as binary protobuf in base64 (a third of the cost of its
 * JSON form to read and write, and the same bytes go into the job's events). Records
 * written before carry `job`, the JSON form, and still read.
 */
export interface JobRecord {
  pb?: string;
  job?: JsonValue;
  /**
   * While the job waits: the nearest jobs before it that train a model or write a dataset
   * (see after.ts), which jobs submitted after it read instead of walking back through it.
   * Not in the Job message: it is how the scheduler finds them, not a fact about the job.
   * Records without it (written before, or with too many) are walked through.
   */
  nearestMakers?: string[];
}

/** What handlers get: the dependencies, plus the watchers of this scheduler process and its recent views of the executors alive and the deployments. */
export interface Scheduler extends SchedulerDeps {
  watchers: JobWatchers;
  alive: Recent<Executor[]>;
  deployments: Recent<Deployment[]>;
  /** Every webhook, secrets included, as the dispatcher matches events against them. */
  webhooks: Recent<Webhook[]>;
  /** Inference graphs as predictions run them, by name. */
  inferenceGraphs: RecentByKey<InferenceGraph>;
  /** What each graph answered through this process. */
  graphStats: GraphStats;
  /** The requests a second this process's autoscaler measured last, by deployment it scales. */
  requestRates: Map<string, number>;
}

const MAX_TRIES = 20;

export function jobs(deps: SchedulerDeps) {
  return deps.metadata.collection<JobRecord>("runtime_jobs");
}

export function isFinal(state: JobState): boolean {
  return state === JobState.SUCCEEDED || state === JobState.FAILED || state === JobState.CANCELLED;
}

export function nowOf(deps: SchedulerDeps): Date {
  return deps.now?.() ?? new Date();
}

export async function readJob(deps: SchedulerDeps, name: string): Promise<{ job: Job; rev: number }> {
  const stored = await jobs(deps).get(name);
  if (!stored) throw notFound("JOB_NOT_FOUND", `job ${name} does not exist`, { job: name });
  return { job: decodeJob(stored.value), rev: stored.rev };
}

export function decodeJob(record: JobRecord): Job {
  if (record.pb !== undefined) return fromBinary(JobSchema, Buffer.from(record.pb, "base64"));
  return fromJson(JobSchema, record.job ?? {});
}

/** A job encoded once, for its record and its event. */
interface EncodedJob {
  job: Job;
  bytes: Uint8Array;
  record: JobRecord;
}

/** `nearestMakers` are kept only while the job waits: once it is released, jobs after it no longer look past it. */
function encodeJob(job: Job, nearestMakers: string[] | undefined): EncodedJob {
  const bytes = toBinary(JobSchema, job);
  const record: JobRecord = { pb: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") };
  if (nearestMakers && job.waitingFor.length) record.nearestMakers = nearestMakers;
  return { job, bytes, record };
}

/**
 * Stores new jobs (all or none; their index entries first) and announces them queued, or
 * succeeded (those that reused a result). `nearestMakers`: what each keeps (see JobRecord).
 */
export async function insertJobs(s: Scheduler, created: readonly Job[], nearestMakers: (job: Job) => string[] | undefined = () => undefined): Promise<void> {
  const encoded = created.map((job) => encodeJob(job, nearestMakers(job)));
  await indexNewJobs(s, created);
  await jobs(s).createMany(encoded.map((e) => ({ key: e.job.name, value: e.record })));
  await Promise.all(encoded.map((e) => announce(s, e, e.job.state === JobState.SUCCEEDED ? "succeeded" : "queued")));
}

/** Takes back jobs that were not accepted after all. */
export async function removeJobs(deps: SchedulerDeps, removed: readonly Job[]): Promise<void> {
  await Promise.all(removed.map((job) => jobs(deps).delete(job.name)));
  await unindexJobs(deps, removed);
}

/**
 * Edits a copy of the job and returns the transition it made (published on the bus),
 * "progress" for a change only watchers hear of, or undefined to leave the job as it is.
 */
export type JobChange = (job: Job, now: Date) => JobTransition | "progress" | undefined;

export interface ChangedJob {
  job: Job;
  changed: JobTransition | "progress" | undefined;
}

/** Applies `change` to the stored job with optimistic concurrency. */
export async function changeJob(s: Scheduler, name: string, change: JobChange): Promise<ChangedJob> {
  const [outcome] = await changeJobs(s, [{ name, change }]);
  if (outcome instanceof Error) throw outcome;
  return outcome!;
}

/**
 * Applies each change to its stored job, all read in one go and written in one go, each
 * with its own compare-and-set: a job changed meanwhile is read again and its change
 * retried. Per change, in order: the outcome, or the error that change met (NotFound,
 * or Aborted after too many conflicts); an Error in place of a change is passed through.
 */
export async function changeJobs(s: Scheduler, requests: readonly ({ name: string; change: JobChange } | Error)[]): Promise<(ChangedJob | Error)[]> {
  const outcomes: (ChangedJob | Error | undefined)[] = requests.map((r) => (r instanceof Error ? r : undefined));
  let pending = requests.flatMap((r, i) => (r instanceof Error ? [] : [i]));
  const request = (i: number) => requests[i] as { name: string; change: JobChange };
  for (let attempt = 0; attempt < MAX_TRIES && pending.length; attempt++) {
    const stored = await jobs(s).getMany(pending.map((i) => request(i).name));
    const now = nowOf(s);
    const writes: { index: number; encoded: EncodedJob; changed: JobTransition | "progress"; rev: number }[] = [];
    pending.forEach((index, k) => {
      const { name, change } = request(index);
      const record = stored[k];
      if (!record) return void (outcomes[index] = notFound("JOB_NOT_FOUND", `job ${name} does not exist`, { job: name }));
      // The change edits the decoded job; one that makes none gets the stored job decoded afresh
      // (it may have touched its copy), which is rarer than cloning every job changed.
      const job = decodeJob(record.value);
      const changed = change(job, now);
      if (!changed) return void (outcomes[index] = { job: decodeJob(record.value), changed });
      job.updateTime = timestampFromDate(now);
      writes.push({ index, encoded: encodeJob(job, record.value.nearestMakers), changed, rev: record.rev });
    });
    // The same job twice in one batch: the second write meets the first's revision and is retried.
    const written = await jobs(s).updateMany(writes.map((w) => ({ key: w.encoded.job.name, value: w.encoded.record, expectedRev: w.rev })));
    pending = [];
    const announced: Promise<void>[] = [];
    const ended: Job[] = [];
    written.forEach((result, k) => {
      const { index, encoded, changed } = writes[k]!;
      const { job } = encoded;
      if (result === "conflict") return void pending.push(index);
      if (result === "missing") return void (outcomes[index] = notFound("JOB_NOT_FOUND", `job ${job.name} does not exist`, { job: job.name }));
      outcomes[index] = { job, changed };
      if (changed === "progress") s.watchers.notify(job);
      else announced.push(announce(s, encoded, changed));
      if (isFinal(job.state)) ended.push(job);
    });
    await Promise.all(announced);
    // Left behind if this fails or the process dies first: readers of the index drop such entries.
    await unmarkOpen(s, ended.map((job) => job.name)).catch((e: unknown) => s.logger.warn({ err: e }, "could not take ended jobs out of the index of open jobs"));
    if (ended.length) {
      void settleSuccessors(s, ended.map((job) => ({ name: job.name, job }))).catch((e: unknown) => {
        s.logger.warn({ err: e }, "could not tell the jobs waiting for ended jobs how they ended; the sweep does");
      });
    }
  }
  for (const index of pending) outcomes[index] = aborted("JOB_CONTENTION", `too many concurrent changes to ${request(index).name}; try again`);
  return outcomes as (ChangedJob | Error)[];
}

async function announce(s: Scheduler, { job, bytes }: EncodedJob, transition: JobTransition): Promise<void> {
  s.watchers.notify(job);
  if (isFinal(job.state)) void dropTemporaryInputs(s, job);
  await publishJobEvent(s, job, bytes, transition, `${job.name}:${transition}:${job.attempts.length}`);
}

/**
 * Publishes kiln.runtime.v1.job.<event> with the job (`bytes`: it encoded, when at hand).
 * Events are notices (the record is the truth), so they go without waiting for JetStream's
 * acknowledgement, and a lost one is logged rather than failing the change that caused it.
 */
export async function publishJobEvent(s: SchedulerDeps, job: Job, bytes: Uint8Array | undefined, event: JobTransition | "deleted", msgId: string): Promise<void> {
  const data = jobEvent(bytes ?? toBinary(JobSchema, job), nowOf(s));
  await s.bus.publish(`kiln.runtime.v1.job.${event}`, data, { msgId, confirm: false }).catch((e: unknown) => {
    s.logger.warn({ err: e, job: job.name, event }, "could not publish a job event");
  });
}

/** A JobEvent's bytes around the job's, already encoded: field 1 the job, field 2 the time. */
function jobEvent(jobBytes: Uint8Array, time: Date): Uint8Array {
  return new BinaryWriter()
    .tag(1, WireType.LengthDelimited)
    .bytes(jobBytes)
    .tag(2, WireType.LengthDelimited)
    .bytes(toBinary(TimestampSchema, timestampFromDate(time)))
    .finish();
}

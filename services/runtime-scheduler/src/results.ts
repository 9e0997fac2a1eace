import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { BusMessage } from "@kiln/bus";
import { JobKind, JobState, ReadJobResultsResponseSchema, type Job, type ReadJobResultsResponse } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { failedPrecondition, wantsJsonRows, type KilnError } from "@kiln/core";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { decodeChunk, jsonRowPieces } from "@kiln/data";
import { RowEncoding } from "@kiln/proto/kiln/common/v1/table_pb";
import { END_HEADER, RESULTS_STREAM, RESULTS_SUBJECT_PREFIX, SEQ_HEADER } from "@kiln/contracts";
import { jobFailure } from "./job-errors.js";
import { isFinal, nowOf, readJob, type Scheduler } from "./job-store.js";
import { parseJobName } from "./names.js";

export const PRODUCES_RESULTS = new Set([JobKind.PREDICT, JobKind.PREDICT_PROBA, JobKind.TRANSFORM, JobKind.EXPLAIN]);
/** After a job succeeded, how long to wait for result messages still in flight. */
const SETTLE_MS = 5_000;
/** Watch the job record this often too (another scheduler may own the change). */
const POLL_MS = 1_000;

/**
 * Streams a job's result chunks in order from the results stream, skipping repeats
 * (a retried attempt publishes the same chunks again), until the executor's end marker.
 * A job that fails or is cancelled ends the stream with its error. With JSON encoding,
 * each chunk goes as JSON rows instead, in pieces within the message limit.
 */
export async function* readJobResults(s: Scheduler, name: string, encoding = RowEncoding.ARROW_IPC): AsyncGenerator<ReadJobResultsResponse> {
  const json = wantsJsonRows(encoding);
  parseJobName(name);
  let { job } = await readJob(s, name);
  // A job that reused another's result reads that job's results.
  const ran = job.reusedFrom ? await readJob(s, job.reusedFrom).then((r) => r.job, () => undefined) : job;
  if (job.state === JobState.SUCCEEDED && PRODUCES_RESULTS.has(job.kind) && (!ran || expiredBy(ran, nowOf(s), s.settings.resultsTtlMs))) throw resultsExpired(s, job);
  const { id } = parseJobName((ran ?? job).name);
  const durable = `results_${id}_${randomUUID().slice(0, 8)}`;
  const sub = await s.bus.subscribe({
    stream: RESULTS_STREAM.name,
    durable,
    filterSubject: `${RESULTS_SUBJECT_PREFIX}.${id}`,
    deliverPolicy: "all",
    ackWaitMs: 60_000,
  });
  const messages = sub[Symbol.asyncIterator]();
  const changes = new JobChanges(s, name);
  let pending: Promise<IteratorResult<BusMessage>> | undefined;
  // Kept across turns like `pending`: a change that lands while a message won the race must not be lost.
  let changed: Promise<Job> | undefined;
  /** The next chunk's number on the bus. */
  let next = 0;
  /** Messages sent to the reader (JSON may split a chunk into several). */
  let sent = 0;
  /** The most chunks an end marker counted. */
  let counted = 0;
  try {
    for (;;) {
      if (isFinal(job.state) && job.state !== JobState.SUCCEEDED) throw jobFailure(job);
      if (isFinal(job.state) && !PRODUCES_RESULTS.has(job.kind)) return;
      pending ??= messages.next();
      const settled = isFinal(job.state);
      const winner = await Promise.race([
        pending.then((r) => ({ kind: "message" as const, r })),
        settled ? delay(SETTLE_MS).then(() => ({ kind: "quiet" as const })) : (changed ??= changes.next()).then((j) => ({ kind: "job" as const, j })),
      ]);
      if (winner.kind === "quiet") {
        // Succeeded, and nothing more arrives: chunks it counted, or rows it had, that never came were lost to their age.
        if (next < counted || (next === 0 && Number(job.result?.rows ?? 0) > 0)) throw resultsExpired(s, job);
        return;
      }
      if (winner.kind === "job") {
        changed = undefined;
        job = winner.j;
        continue;
      }
      pending = undefined;
      if (winner.r.done) return;
      const msg = winner.r.value;
      msg.ack();
      const end = msg.headers[END_HEADER];
      if (end !== undefined) {
        if (next >= Number(end)) return;
        counted = Math.max(counted, Number(end));
        continue;
      }
      if (Number(msg.headers[SEQ_HEADER]) !== next) continue; // a repeat from an earlier attempt
      next++;
      if (!json) yield create(ReadJobResultsResponseSchema, { chunk: { arrowIpc: msg.data }, sequence: BigInt(sent++) });
      else for (const rows of jsonRowPieces(decodeChunk(msg.data).batches)) yield create(ReadJobResultsResponseSchema, { json: rows, sequence: BigInt(sent++) });
    }
  } finally {
    changes.close();
    // Not awaited: the reader's stream ends at once instead of after the bus's round trips (10–40 ms on JetStream).
    void sub
      .stop()
      .catch(() => {})
      .then(() => s.bus.deleteConsumer(RESULTS_STREAM.name, durable))
      .catch(() => {});
  }
}

/** Whether the job ended longer ago than results are kept. */
function expiredBy(job: Job, now: Date, ttlMs: number): boolean {
  return job.endTime !== undefined && resultsKeptForMs(job.endTime, now, ttlMs) < 0;
}

/** How much longer the results of a job that ended then are kept (negative once they are gone). */
export function resultsKeptForMs(endTime: Timestamp, now: Date, ttlMs: number): number {
  return ttlMs - (now.getTime() - timestampMs(endTime));
}

function resultsExpired(s: Scheduler, job: Job): KilnError {
  const kept = `${Math.round(s.settings.resultsTtlMs / 60_000)} min`;
  const where = job.outputDataset ? `they were written to ${job.outputDataset}` : "run the job again (name an output dataset to keep results)";
  const whose = job.reusedFrom ? `${job.name} (those of ${job.reusedFrom}, whose result it reused)` : job.name;
  return failedPrecondition("RESULTS_EXPIRED", `the results of ${whose} are no longer kept (results stay readable ${kept} after they are published, KILN_RESULTS_TTL_MS, and on the in-process bus of embedded mode only while the process runs): ${where}`, { job: job.name });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The job's next state: from this process's watchers at once, or from the record within a second. */
export class JobChanges {
  private waiting: ((job: Job) => void) | undefined;
  private latest: Job | undefined;
  /** Changes heard from this process's watchers so far. */
  private heard = 0;
  private readonly stopListening: () => void;
  private readonly timer: NodeJS.Timeout;

  constructor(s: Scheduler, name: string) {
    this.stopListening = s.watchers.listen(name, (job) => {
      this.heard++;
      this.offer(job);
    });
    this.timer = setInterval(() => {
      // A read that overlapped a change heard meanwhile may predate it: drop it (the next read catches up).
      const heard = this.heard;
      readJob(s, name).then(({ job }) => {
        if (this.heard === heard) this.offer(job);
      }, () => {});
    }, POLL_MS);
    this.timer.unref();
  }

  next(): Promise<Job> {
    if (this.latest) {
      const job = this.latest;
      this.latest = undefined;
      return Promise.resolve(job);
    }
    return new Promise((resolve) => (this.waiting = resolve));
  }

  close(): void {
    this.stopListening();
    clearInterval(this.timer);
  }

  private offer(job: Job): void {
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting(job);
    } else {
      this.latest = job;
    }
  }
}

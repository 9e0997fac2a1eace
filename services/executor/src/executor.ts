import { hostname } from "node:os";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { BusMessage, Subscription } from "@kiln/bus";
import {
  ExecutorSchema,
  QueuedJobSchema,
  type FinishAttemptResponse,
  type FinishAttemptRequestSchema,
  type JobError,
  JobErrorSchema,
  type StartAttemptRequestSchema,
  type StartAttemptResponse,
  type Job,
  type JobQueue,
  type JobResult,
  JobState,
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { QUEUE_STREAM, RESULTS_SUBJECT_PREFIX } from "@kiln/contracts";
import type { ModelVersionInfo } from "@kiln/sdk";
import type { ExecutorDeps } from "./deps.js";
import { JobFailure, jobErrorOf, Stopped, toJobFailure } from "./job-failure.js";
import { JobTracker } from "./job-tracking.js";
import { ProgressReporter } from "./progress.js";
import { ResultPublisher } from "./results.js";
import { Batcher } from "./batcher.js";
import { runJob } from "./run-job.js";
import { Serving } from "./serving.js";

/** A batch answer's items as the Batcher takes them. */
function outcomes<Res>(results: { outcome: { case: "response"; value: Res } | { case: "error"; value: JobError } | { case: undefined; value?: undefined } }[]): ({ response: Res } | { error: JobError })[] {
  return results.map(({ outcome }) => {
    if (outcome.case === "response") return { response: outcome.value };
    if (outcome.case === "error") return { error: outcome.value };
    return { error: create(JobErrorSchema, { code: "INTERNAL", reason: "NO_OUTCOME", message: "the scheduler answered with neither a response nor an error" }) };
  });
}

type Outcome = { result: JobResult } | { failure: JobFailure } | { stopped: Stopped };

const FINISH_TRIES = 5;
/** Pull loops per queue (each a subscription holding at most one message). */
const MAX_PULLERS = 8;
/** A scheduler that stays away is reported this often, not at every heartbeat. */
const FAILED_BEAT_LOG_MS = 30_000;

/**
 * Pulls jobs from every queue its labels serve, runs up to `slots` at once, keeps each
 * message alive while its job runs, and acks only once the scheduler has the outcome:
 * a crash before that hands the job to another executor.
 */
export class Executor {
  private readonly running = new Map<string, AbortController>();
  private readonly backlog: BusMessage[] = [];
  private readonly queues = new Map<string, Subscription[]>();
  /** Pull loops waiting for a free slot. */
  private readonly waiting: { extra: boolean; wake: () => void }[] = [];
  private readonly startTime = new Date();
  private active = 0;
  /** Messages taken and not yet settled (running, or reporting their outcome). */
  private settling = 0;
  /** Pull loops waiting for a message. */
  private pulling = 0;
  private stopped = false;
  private heartbeatMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Heartbeats failed in a row, and when that was last logged. */
  private failedBeats = 0;
  private lastFailureLog = 0;
  private backlogTimer: NodeJS.Timeout | undefined;
  private resultsPrefix = RESULTS_SUBJECT_PREFIX;
  private readonly serving: Serving;
  /** A heartbeat is under way; another asked for meanwhile follows it at once. */
  private beating = false;
  private beatAgain = false;

  private readonly starts: Batcher<MessageInitShape<typeof StartAttemptRequestSchema>, StartAttemptResponse>;
  private readonly finishes: Batcher<MessageInitShape<typeof FinishAttemptRequestSchema>, FinishAttemptResponse>;

  constructor(private readonly deps: ExecutorDeps) {
    this.heartbeatMs = deps.heartbeatMs;
    this.serving = new Serving(deps, () => this.beatSoon());
    this.starts = new Batcher(async (requests) => outcomes<StartAttemptResponse>((await deps.control.startAttempts({ requests })).results));
    this.finishes = new Batcher(async (requests) => outcomes<FinishAttemptResponse>((await deps.control.finishAttempts({ requests })).results));
  }

  /** Registers with the scheduler and starts pulling; resolves after the first heartbeat attempt. */
  async start(): Promise<void> {
    await this.beat();
  }

  /** Stops pulling; running jobs are stopped and their messages handed straight back. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.backlogTimer);
    for (const controller of this.running.values()) controller.abort(new Stopped("shutdown"));
    for (const msg of this.backlog.splice(0)) msg.nak();
    await this.serving.stop();
    await Promise.all([...this.queues.values()].flat().map((s) => s.stop().catch(() => {})));
    for (const loop of this.waiting.splice(0)) {
      this.pulling++; // what a woken loop gives back
      loop.wake();
    }
    for (let i = 0; i < 100 && this.settling > 0; i++) await new Promise((r) => setTimeout(r, 20));
  }

  /** A heartbeat now rather than at its time (a deployment finished loading). */
  private beatSoon(): void {
    if (this.stopped) return;
    if (this.beating) {
      this.beatAgain = true;
      return;
    }
    clearTimeout(this.timer);
    void this.beat();
  }

  private async beat(): Promise<void> {
    this.beating = true;
    try {
      const executor = create(ExecutorSchema, {
        name: this.deps.name,
        labels: this.deps.labels,
        slots: this.deps.slots,
        runningJobs: [...this.running.keys()],
        host: hostname(),
        startTime: timestampFromDate(this.startTime),
        serving: this.serving.status(),
      });
      const res = await this.deps.control.heartbeat({ executor });
      if (res.interval) this.heartbeatMs = durationMs(res.interval) || this.heartbeatMs;
      if (res.resultsSubjectPrefix) this.resultsPrefix = res.resultsSubjectPrefix;
      for (const name of res.cancelledJobs) this.running.get(name)?.abort(new Stopped("cancelled"));
      for (const queue of res.queues) if (!this.queues.has(queue.consumer) && !this.stopped) await this.serve(queue);
      if (!this.stopped) this.serving.reconcile(res.deployments);
      if (this.failedBeats > 0) this.deps.logger.info({ failed: this.failedBeats }, "heartbeat answered again");
      this.failedBeats = 0;
    } catch (e) {
      this.reportFailedBeat(e);
    }
    this.beating = false;
    const again = this.beatAgain;
    this.beatAgain = false;
    if (!this.stopped) this.timer = setTimeout(() => void this.beat(), again ? 0 : this.heartbeatMs);
  }

  /** The first failure says why; a scheduler that stays away is reported every 30 s, not at every beat. */
  private reportFailedBeat(e: unknown): void {
    this.failedBeats++;
    const now = Date.now();
    if (this.failedBeats > 1 && now - this.lastFailureLog < FAILED_BEAT_LOG_MS) return;
    this.lastFailureLog = now;
    const error = e instanceof Error ? e.message : String(e);
    // Until the scheduler takes its token it gives this executor no queue, so no job reaches it.
    if (e instanceof ConnectError && (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied)) {
      this.deps.logger.error({ error, failed: this.failedBeats }, "the scheduler refuses this executor's token: give it KILN_AUTH_SECRETS, or a KILN_TOKEN of role service for every project; retrying");
      return;
    }
    this.deps.logger.warn({ error, failed: this.failedBeats }, this.failedBeats === 1 ? "heartbeat failed; retrying" : "heartbeat still failing; retrying");
  }

  /**
   * Pulls with several subscriptions at once (each holds at most the one message it
   * pulled), so a busy executor has a pull under way per free slot instead of one message
   * per round trip. Each queue's first loop pulls whenever a slot is free, as if alone (so
   * one queue's waiting pulls never starve another queue); the others only for slots no
   * pull under way has claimed yet.
   */
  private async serve(queue: JobQueue): Promise<void> {
    const subs: Subscription[] = [];
    for (let i = 0; i < Math.min(this.deps.slots, MAX_PULLERS); i++) {
      subs.push(
        await this.deps.bus.subscribe({
          stream: QUEUE_STREAM.name,
          durable: queue.consumer,
          filterSubject: queue.subject,
          ackWaitMs: this.deps.jobAckWaitMs,
          maxDeliver: -1, // the scheduler counts attempts; the queue never gives up on a job
        }),
      );
    }
    this.queues.set(queue.consumer, subs);
    this.deps.logger.info({ queue: queue.subject, labels: queue.labels }, "serving a job queue");
    subs.forEach((sub, i) => void this.pull(sub, i > 0));
  }

  private async pull(sub: Subscription, extra: boolean): Promise<void> {
    const messages = sub[Symbol.asyncIterator]();
    while (!this.stopped) {
      await this.mayPull(extra);
      const next = this.stopped
        ? { done: true as const, value: undefined }
        : await messages.next().catch((e: unknown) => {
            this.deps.logger.warn({ err: e }, "pulling a job failed");
            return { done: true as const, value: undefined };
          });
      this.pulling--;
      if (next.done) break;
      this.accept(next.value);
    }
    this.next();
  }

  private canPull(extra: boolean): boolean {
    const busy = this.active + this.backlog.length;
    return busy + (extra ? this.pulling : 0) < this.deps.slots;
  }

  /** Resolves when this loop may pull; its pull counts in `pulling` from then on. */
  private mayPull(extra: boolean): Promise<void> {
    if (this.canPull(extra)) {
      this.pulling++;
      return Promise.resolve();
    }
    return new Promise((wake) => this.waiting.push({ extra, wake }));
  }

  private accept(msg: BusMessage): void {
    if (this.stopped) return msg.nak();
    if (this.active < this.deps.slots) return void this.handle(msg);
    this.backlog.push(msg);
    this.backlogTimer ??= setInterval(() => this.backlog.forEach((m) => m.working()), this.keepAliveMs());
  }

  private keepAliveMs(): number {
    return Math.max(20, Math.floor(this.deps.jobAckWaitMs / 3));
  }

  private async handle(msg: BusMessage): Promise<void> {
    this.active++;
    this.settling++;
    let released = false;
    // The slot is free once the work is done; reporting the outcome and acking need none.
    const release = () => {
      if (released) return;
      released = true;
      this.active--;
      this.next();
    };
    const keepAlive = setInterval(() => msg.working(), this.keepAliveMs());
    try {
      await this.process(msg, release);
    } catch (e) {
      // The scheduler could not be reached: the job goes back to the queue for a later try.
      this.deps.logger.warn({ err: e }, "could not hand a job's outcome to the scheduler; it will be retried");
      msg.nak(1_000);
    } finally {
      clearInterval(keepAlive);
      this.settling--;
      release();
    }
  }

  private next(): void {
    const queued = this.backlog.shift();
    if (this.backlog.length === 0) {
      clearInterval(this.backlogTimer);
      this.backlogTimer = undefined;
    }
    if (queued) return void this.handle(queued);
    for (let i = 0; i < this.waiting.length; ) {
      const loop = this.waiting[i]!;
      if (!this.canPull(loop.extra)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.pulling++; // counted now, so the next check sees this loop's pull
      loop.wake();
    }
  }

  private async process(msg: BusMessage, release: () => void): Promise<void> {
    let name: string;
    try {
      name = fromBinary(QueuedJobSchema, msg.data).name;
    } catch {
      this.deps.logger.error({ subject: msg.subject }, "dropping a message that is not a queued job");
      return msg.term();
    }
    const start = await this.starts.call({ name, executor: this.deps.name }).catch((e: unknown) => {
      if (isKilnError(e, Code.NotFound)) return undefined;
      throw e;
    });
    if (!start) {
      // Its submit failed after the message went out (the job was taken back): nothing to run.
      this.deps.logger.warn({ job: name }, "dropping a queued message of a job that does not exist");
      return msg.ack();
    }
    if (!start.run) return msg.ack(); // cancelled, finished or out of attempts
    const outcome = await this.attempt(start.job!, start.attempt);
    release();
    if ("stopped" in outcome && outcome.stopped.why === "shutdown") return msg.nak();
    const finished = await this.finish(name, start.attempt, outcome);
    if (finished.requeue) return msg.nak(finished.retryDelay ? durationMs(finished.retryDelay) : 0);
    // Superseded (another executor took the job over after this one was presumed lost):
    // its message is the other executor's to settle.
    if ("stopped" in outcome && finished.job?.state !== JobState.CANCELLED) return;
    msg.ack();
  }

  private async attempt(job: Job, attempt: number): Promise<Outcome> {
    const controller = new AbortController();
    const timeoutMs = job.timeout ? durationMs(job.timeout) : 0;
    const timer = timeoutMs > 0 ? setTimeout(() => controller.abort(new Stopped("timeout")), timeoutMs) : undefined;
    let version: Promise<ModelVersionInfo> | undefined;
    const model = () => (version ??= this.deps.models.version(job.model));
    const tracker = await JobTracker.forJob(this.deps, job, attempt, model).catch((e: unknown) => {
      this.deps.logger.warn({ err: e, job: job.name }, "could not look up the job's tracking");
      return undefined;
    });
    const progress = new ProgressReporter(this.deps.control, job.name, attempt, () => controller.abort(new Stopped("cancelled")), (change) => tracker?.progress(change));
    const jobId = job.name.slice(job.name.lastIndexOf("/") + 1);
    const results = new ResultPublisher(this.deps.bus, `${this.resultsPrefix}.${jobId}`, jobId);
    this.running.set(job.name, controller);
    try {
      await tracker?.call();
      const result = await runJob({ deps: this.deps, job, attempt, signal: controller.signal, progress, results, model });
      await progress.flush();
      await tracker?.success(result);
      return { result };
    } catch (e) {
      const why = controller.signal.reason;
      const failure =
        why instanceof Stopped && why.why === "timeout"
          ? new JobFailure("DEADLINE_EXCEEDED", "JOB_TIMEOUT", `the job ran longer than its timeout of ${timeoutMs} ms`)
          : why instanceof Stopped
            ? undefined
            : toJobFailure(e);
      if (!failure) return { stopped: why as Stopped };
      if (failure.code === "INTERNAL") this.deps.logger.error({ err: e, job: job.name }, "a job failed unexpectedly");
      await tracker?.failure(failure, !failure.retryable || attempt >= job.maxAttempts);
      return { failure };
    } finally {
      clearTimeout(timer);
      this.running.delete(job.name);
    }
  }

  /** Hands the outcome to the scheduler, retrying a few times if it cannot be reached. */
  private async finish(name: string, attempt: number, outcome: Outcome): Promise<FinishAttemptResponse> {
    const request =
      "result" in outcome
        ? { name, attempt, outcome: { case: "result" as const, value: outcome.result } }
        : "failure" in outcome
          ? { name, attempt, outcome: { case: "error" as const, value: jobErrorOf(outcome.failure) }, retryable: outcome.failure.retryable }
          : { name, attempt, outcome: { case: "error" as const, value: jobErrorOf(new JobFailure("CANCELLED", "STOPPED", outcome.stopped.message)) } };
    for (let tries = 1; ; tries++) {
      try {
        return await this.finishes.call(request);
      } catch (e) {
        if (tries >= FINISH_TRIES) throw e;
        await new Promise((r) => setTimeout(r, 200 * 2 ** tries));
      }
    }
  }
}

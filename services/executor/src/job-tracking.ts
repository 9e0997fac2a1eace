import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EventSchema, IngestBatchSchema, RunStatus } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { JobKind, type Job, type JobInput, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { INGEST_SUBJECT_PREFIX } from "@kiln/contracts";
import { eventValue, type ModelVersionInfo } from "@kiln/sdk";
import { inputName } from "./data.js";
import type { ExecutorDeps } from "./deps.js";
import type { JobFailure } from "./job-failure.js";
import type { ProgressUpdate } from "./progress.js";

type EventInit = Extract<MessageInitShape<typeof EventSchema>, { $typeName?: undefined }>;

/** Epoch metrics are sent at most this often. */
const EPOCH_FLUSH_MS = 500;

/**
 * Tracks a job on a linked model (metadata `tracking: { default: "experiment" }`) as a run
 * of that experiment: task_call with the job and its inputs, per-epoch metrics while training, the
 * job's metrics (and a fit's new version, event "model"), then task_success or
 * task_failure with the duration. The run is keyed by
 * the job, so a retried attempt continues it. Events go through the bus; the tracking
 * service ingests them with a durable consumer.
 */
export class JobTracker {
  private readonly started = Date.now();
  private seq = 0;
  private epochs: EventInit[] = [];
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly deps: ExecutorDeps,
    private readonly job: Job,
    private readonly attempt: number,
    private readonly experiment: string,
  ) {}

  /** A tracker when the job's model is linked to an experiment. */
  static async forJob(deps: ExecutorDeps, job: Job, attempt: number, model: () => Promise<ModelVersionInfo>): Promise<JobTracker | undefined> {
    if (job.kind === JobKind.NOOP || !job.model) return undefined;
    const version = await model();
    const tracking = version.metadata.tracking as { default?: unknown } | undefined;
    if (typeof tracking?.default !== "string" || !tracking.default) return undefined;
    const project = job.name.slice(0, job.name.indexOf("/jobs/"));
    const experiment = tracking.default.startsWith("projects/") ? tracking.default : `${project}/experiments/${tracking.default}`;
    return new JobTracker(deps, job, attempt, experiment);
  }

  /** task_call with the inputs, and the job's params as `param` events (as MLflow logs a run's params), so runs compare by them. */
  async call(): Promise<void> {
    const { x, y } = this.job;
    const inputs = { job: this.job.name, model: this.job.model, x: x && inputText(x, "x"), y: y?.dataset ? inputText(y, "y") : undefined, attempt: this.attempt };
    const params = Object.entries(this.job.params ?? {}).map(([key, value]) => this.event("param", key, eventValue(value)));
    await this.send([this.event("task_call", JobKind[this.job.kind].toLowerCase(), { case: "json", value: JSON.stringify(inputs) }), ...params]);
  }

  /** Training progress: each epoch's loss and metrics at step = epoch. */
  progress(change: ProgressUpdate): void {
    if (!change.epoch) return;
    const step = BigInt(change.epoch);
    for (const [key, value] of Object.entries(change.metrics ?? {})) this.epochs.push(this.event("metric", key, { case: "number", value }, step));
    this.timer ??= setTimeout(() => void this.flushEpochs(), EPOCH_FLUSH_MS);
  }

  async success(result: JobResult): Promise<void> {
    await this.flushEpochs();
    const metrics = Object.entries(result.metrics).map(([key, value]) => this.event("metric", key, { case: "number", value }));
    // A fit's run names the version it made, as MLflow's run logs its model.
    if (result.modelVersion) metrics.push(this.event("model", "model_version", { case: "text", value: result.modelVersion }));
    const seconds = (Date.now() - this.started) / 1000;
    await this.send([...metrics, this.event("task_success", JobKind[this.job.kind].toLowerCase(), { case: "number", value: seconds })], RunStatus.FINISHED);
  }

  async failure(f: JobFailure, final: boolean): Promise<void> {
    await this.flushEpochs();
    const value = JSON.stringify({ code: f.code, reason: f.reason, message: f.message, seconds: (Date.now() - this.started) / 1000 });
    await this.send([this.event("task_failure", JobKind[this.job.kind].toLowerCase(), { case: "json", value })], final ? RunStatus.FAILED : RunStatus.UNSPECIFIED);
  }

  private async flushEpochs(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.epochs.splice(0);
    if (events.length) await this.send(events);
  }

  private event(event: string, key: string, value: EventInit["value"], step = 0n): EventInit {
    return { id: `${this.job.name}:${this.attempt}:${this.seq++}`, event, key, step, node: this.deps.name, dt: timestampFromMs(Date.now()), value };
  }

  private async send(events: EventInit[], endStatus = RunStatus.UNSPECIFIED): Promise<void> {
    const batch = create(IngestBatchSchema, { experiment: this.experiment, runKey: this.job.name, node: this.deps.name, events, endStatus, creator: this.job.creator });
    const token = this.experiment.slice(this.experiment.lastIndexOf("/") + 1).replace(/[^A-Za-z0-9_-]/g, "_");
    try {
      await this.deps.bus.publish(`${INGEST_SUBJECT_PREFIX}.${token}`, toBinary(IngestBatchSchema, batch), { msgId: String(events[0]?.id ?? `${this.job.name}:end`) });
    } catch (e) {
      // Tracking must never fail the job it observes.
      this.deps.logger.warn({ err: e, job: this.job.name }, "could not publish tracking events");
    }
  }
}

/**
 * An input as a run records it, with the version read, as `kiln jobs:show` prints it:
 * "projects/p/datasets/sales@3 columns a, b where year >= 2024". Local data is named as
 * such: the temporary dataset it travelled as is gone after the job.
 */
function inputText(input: JobInput, which: "x" | "y"): string {
  const name = input.temporary ? inputName(input, which) : `${input.dataset}@${input.version}`;
  return [name, input.columns.length ? `columns ${input.columns.join(", ")}` : "", input.filter ? `where ${input.filter}` : ""].filter(Boolean).join(" ");
}

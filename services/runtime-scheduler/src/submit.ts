import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { alreadyExists, checkId, errorReason, failedPrecondition, invalidArgument, isKilnError, notFound, parseParent } from "@kiln/core";
import {
  JobInputSchema,
  JobKind,
  JobProgressSchema,
  JobSchema,
  JobState,
  QueuedJobSchema,
  type Job,
  type JobInput,
  type SubmitJobRequest,
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT } from "./deps.js";
import { insertJob, nowOf, readJob, removeJob, type Scheduler } from "./job-store.js";
import { newJobId, parseDatasetName, parseModelRef } from "./names.js";
import { ensureQueue, normalizeLabels, queueFor } from "./queues.js";

/** The attachment (or file format) that holds a model's trainable kiln.ml state. */
export const TRAINABLE_ATTACHMENT = "kiln-ml.json";
export const TRAINABLE_FORMAT = "kiln-ml";

const NEEDS_Y = new Set([JobKind.SCORE]);
const TRAINS = new Set([JobKind.FIT, JobKind.PARTIAL_FIT]);

/**
 * Checks a job (its model and input datasets must exist; the model's version and the
 * inputs' versions are pinned now), stores it QUEUED and publishes it to its queue.
 */
export async function submitJob(s: Scheduler, req: SubmitJobRequest): Promise<Job> {
  const project = parseParent(req.parent);
  const given = req.job ?? create(JobSchema);
  if (req.requestId) {
    checkId(req.requestId, "request_id");
    const earlier = await findByRequestId(s, project, req.requestId);
    if (earlier) return earlier;
  }
  const job = await checkedJob(s, project, given);
  const now = nowOf(s);
  job.name = `${project}/jobs/${newJobId(now)}`;
  job.state = JobState.QUEUED;
  job.createTime = job.updateTime = timestampFromDate(now);
  job.progress = create(JobProgressSchema);

  if (req.requestId) await claimRequestId(s, project, req.requestId, job.name);
  const queue = queueFor(job.requiredLabels);
  await ensureQueue(s, queue);
  await insertJob(s, job);
  try {
    await s.bus.publish(queue.subject, toBinary(QueuedJobSchema, create(QueuedJobSchema, { name: job.name })), { msgId: job.name });
  } catch (e) {
    // Not queued means not accepted: take the record back, so nothing waits forever, and
    // free the request_id, so a retry with it makes the job instead of failing REQUEST_IN_FLIGHT.
    await removeJob(s, job.name).catch(() => {});
    if (req.requestId) await requests(s).delete(`${project}/requests/${req.requestId}`).catch(() => {});
    throw e;
  }
  return job;
}

async function checkedJob(s: Scheduler, project: string, given: Job): Promise<Job> {
  const kind = given.kind;
  if (!JobKind[kind] || kind === JobKind.UNSPECIFIED) throw invalidArgument("INVALID_JOB_KIND", "job.kind is required (FIT, PARTIAL_FIT, PREDICT, PREDICT_PROBA, SCORE, TRANSFORM or NOOP)");
  const maxAttempts = given.maxAttempts || DEFAULT_MAX_ATTEMPTS;
  if (maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS_LIMIT) {
    throw invalidArgument("INVALID_MAX_ATTEMPTS", `max_attempts must be from 1 to ${MAX_ATTEMPTS_LIMIT}, got ${given.maxAttempts}`);
  }
  if (given.timeout && durationMs(given.timeout) < 0) throw invalidArgument("INVALID_TIMEOUT", "timeout must not be negative");
  const job = create(JobSchema, {
    kind,
    params: given.params,
    requiredLabels: normalizeLabels(given.requiredLabels),
    timeout: given.timeout,
    maxAttempts,
    outputDataset: given.outputDataset ? parseDatasetName(given.outputDataset, "output_dataset") : "",
  });
  // The job writes there, so it must be in the job's project like what it reads.
  if (job.outputDataset) inProject(job.outputDataset, project, "output dataset");
  if (kind === JobKind.NOOP) return job;

  if (!given.model) throw invalidArgument("MODEL_REQUIRED", "job.model is required: projects/{p}/models/{m}[/versions/{ref}]");
  job.model = await pinModel(s, project, given.model, TRAINS.has(kind));
  if (!given.x?.dataset) throw invalidArgument("INPUT_REQUIRED", "job.x is required: the dataset of features");
  job.x = await pinInput(s, project, given.x, "x");
  if (given.y?.dataset) job.y = await pinInput(s, project, given.y, "y");
  else if (NEEDS_Y.has(kind)) throw invalidArgument("INPUT_REQUIRED", `job.y is required for ${JobKind[kind]}: the dataset of targets`);
  return job;
}

async function pinModel(s: Scheduler, project: string, ref: string, trains: boolean): Promise<string> {
  const { version } = parseModelRef(ref);
  inProject(version, project, "model");
  const found = await s.registry.getModelVersion({ name: version }).catch(rethrowRemote);
  const v = found.version!;
  if (trains && v.format !== TRAINABLE_FORMAT && !v.attachments.some((a) => a.name === TRAINABLE_ATTACHMENT)) {
    throw failedPrecondition(
      "NOT_TRAINABLE",
      `${v.name} has no trainable state (an uploaded ${v.format} model): fit needs a model made by kiln.models.create or put from a Kiln estimator`,
      { model: v.name },
    );
  }
  if (!trains && !v.runnable) {
    throw failedPrecondition("NOT_RUNNABLE", `${v.name} is not runnable by Kiln (format ${v.format}); fit it first or upload an ONNX model`, { model: v.name });
  }
  return v.name;
}

async function pinInput(s: Scheduler, project: string, input: JobInput, what: string): Promise<JobInput> {
  const dataset = parseDatasetName(input.dataset, `job.${what}.dataset`);
  inProject(dataset, project, "dataset");
  const ref = `${dataset}/versions/${input.version ? String(input.version) : "latest"}`;
  const found = await s.store.getDatasetVersion({ name: ref }).catch(rethrowRemote);
  return create(JobInputSchema, { ...input, dataset, version: found.version!.version });
}

function inProject(name: string, project: string, what: string): void {
  if (!name.startsWith(`${project}/`)) throw invalidArgument("CROSS_PROJECT", `the ${what} ${name} is not in ${project}`);
}

/** Errors from the store and registry keep their code (NotFound stays NotFound) and message. */
function rethrowRemote(e: unknown): never {
  if (e instanceof ConnectError && e.code === Code.NotFound) throw notFound(errorReason(e) ?? "NOT_FOUND", e.rawMessage);
  throw e;
}

function requests(s: Scheduler) {
  return s.metadata.collection<{ job: string }>("runtime_requests");
}

async function findByRequestId(s: Scheduler, project: string, requestId: string): Promise<Job | undefined> {
  const found = await requests(s).get(`${project}/requests/${requestId}`);
  if (!found) return undefined;
  return (await readJob(s, found.value.job).catch(() => undefined))?.job;
}

async function claimRequestId(s: Scheduler, project: string, requestId: string, job: string): Promise<void> {
  await requests(s).create(`${project}/requests/${requestId}`, { job }).catch((e: unknown) => {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("REQUEST_IN_FLIGHT", `a job with request_id ${requestId} is being submitted; retry to get it`);
    throw e;
  });
}

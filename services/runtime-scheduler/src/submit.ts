import { clone, create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { alreadyExists, checkId, failedPrecondition, invalidArgument, isKilnError, KilnError, parseParent, printable } from "@kiln/core";
import {
  JobInputSchema,
  JobKind,
  JobProgressSchema,
  JobSchema,
  JobState,
  type Job,
  type JobInput,
  type SubmitJobRequest,
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ModelVersion } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { Dataset, DatasetVersion } from "@kiln/proto/kiln/store/v1/store_pb";
import { DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT, TRAINS } from "./deps.js";
import { checkDriftParams, checkExplainParams, checkInput, checkKeepColumns, checkScoreParams } from "./input-checks.js";
import { rethrowRemote } from "./job-errors.js";
import { isClusterer, trainingDataOf, TRAINABLE_ATTACHMENT, TRAINABLE_FORMAT } from "@kiln/contracts";
import { checkTemplates, expandTemplates, hasTemplate } from "./schedule-templates.js";
import { checkAfter, keepNearestMakers, madeBefore, namedAfter, nearestMakersNamed, type EarlierInCall } from "./after.js";
import { settleEndedBefore } from "./successors.js";
import { hasLocalData, storeLocalInput } from "./local-inputs.js";
import { checkTemporary, claimTemporaries, dropTemporaries, unclaimTemporaries } from "./temporaries.js";
import { decodeJob, insertJobs, isFinal, jobs, nowOf, removeJobs, type Scheduler } from "./job-store.js";
import { fingerprintOf } from "./fingerprint.js";
import { reusableJob, takeResult } from "./reuse.js";
import { findByRequestId, requestIds, requestKey } from "./request-ids.js";
import { newJobIds, parseDatasetName, parseJobName, parseModelRef, versionNumber } from "./names.js";
import { enqueue, ensureQueue, normalizeLabels, queueFor } from "./queues.js";


const NEEDS_Y = new Set([JobKind.SCORE]);

/** Who submits jobs: the token's subject, and the schedule whose occurrence they are. */
export interface JobOrigin {
  creator?: string;
  schedule?: string;
}

/** Jobs one SubmitJobs call may queue. */
export const MAX_SUBMIT_BATCH = 1000;

/**
 * Checks a job (its model and input datasets must exist; the model's version and the
 * inputs' versions are pinned now), stores it QUEUED and publishes it to its queue.
 */
export async function submitJob(s: Scheduler, req: SubmitJobRequest, creator = ""): Promise<Job> {
  return (await submitJobs(s, req.parent, [req], false, { creator }))[0]!;
}

/**
 * Submits jobs of one project together, all or none: every request is checked before
 * anything is stored, the jobs are stored in one write, and if any cannot be queued
 * none stays (a message already queued for one finds no job and is dropped). Errors
 * name the request's index when `indexed`. `origin`: who submits them (the token's subject), and the schedule that does.
 */
export async function submitJobs(s: Scheduler, parent: string, reqs: readonly SubmitJobRequest[], indexed = true, origin: JobOrigin = {}): Promise<Job[]> {
  const project = parseParent(parent);
  if (reqs.length > MAX_SUBMIT_BATCH) throw invalidArgument("TOO_MANY_JOBS", `at most ${MAX_SUBMIT_BATCH} jobs per call, got ${reqs.length}`);
  const lookups = new Lookups(s, project);
  try {
    const jobs = await submitChecked(s, project, reqs, lookups, indexed, origin);
    // Data in a request whose request_id an earlier one in the call had made a dataset no job reads.
    const read = new Set(jobs.flatMap((job) => [job.x?.dataset, job.y?.dataset]));
    await dropTemporaries(s, lookups.made.filter((name) => !read.has(name)), "a submit whose request_id was taken");
    return jobs;
  } catch (e) {
    // Not accepted changes nothing: datasets made from the requests' data go too.
    await dropTemporaries(s, lookups.made, "a refused submit");
    throw e;
  }
}

async function submitChecked(s: Scheduler, project: string, reqs: readonly SubmitJobRequest[], lookups: Lookups, indexed: boolean, origin: JobOrigin): Promise<Job[]> {
  // Checked together; a request whose job runs after an earlier one's (requests/{i}) waits for that one's check.
  const checks: Promise<Checked>[] = [];
  for (const [index, req] of reqs.entries()) {
    const earlierInCall: EarlierInCall = async (i) => {
      if (i >= index) throw invalidArgument("INVALID_AFTER", `job.after names requests/${i}: only an earlier request of the call may be named (this is requests/${index})`);
      const checked = await checks[i]!;
      return "earlier" in checked ? checked.earlier : checked.job;
    };
    checks.push(checkedRequest(s, project, req, lookups, indexed ? earlierInCall : undefined)); // SubmitJob has no other requests
  }
  const prepared = await firstFailureInOrder(checks, (e, index) => atIndex(e, index, indexed));

  // The same request_id twice in one call makes one job.
  const firstWithId = new Map<string, number>();
  const fresh: { job: Job; requestId: string }[] = [];
  prepared.forEach((p, index) => {
    const requestId = reqs[index]!.requestId;
    if ("earlier" in p || (requestId && firstWithId.has(requestId))) return;
    if (requestId) p.job.requestId = requestId;
    fresh.push({ job: p.job, requestId });
    if (requestId) firstWithId.set(requestId, index);
  });
  const now = nowOf(s);
  const ids = newJobIds(now, fresh.length);
  fresh.forEach(({ job }, k) => {
    job.name = `${project}/jobs/${ids[k]}`;
    job.state = JobState.QUEUED;
    job.createTime = job.updateTime = timestampFromDate(now);
    job.progress = create(JobProgressSchema);
    job.creator = origin.creator ?? "";
    job.schedule = origin.schedule ?? "";
  });
  // The job each request stands for: its own, an earlier request's with its request_id, or the one that request_id made before.
  const jobOfRequest = (index: number): Job => {
    const p = prepared[index]!;
    if ("earlier" in p) return p.earlier;
    const first = firstWithId.get(reqs[index]!.requestId);
    return first === undefined ? p.job : (prepared[first] as { job: Job }).job;
  };
  for (const { job } of fresh) {
    job.after = [...new Set(job.after.map((name) => namedAfter(name, jobOfRequest)))];
    job.waitingFor = [...new Set(job.waitingFor.map((name) => namedAfter(name, jobOfRequest)))];
  }
  await reuseResults(s, fresh.map((f) => f.job), lookups, now);

  const claimed = fresh.filter((f) => f.requestId).map((f) => ({ key: requestKey(project, f.requestId), value: { job: f.job.name } }));
  await requestIds(s).createMany(claimed).catch((e: unknown) => {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("REQUEST_IN_FLIGHT", `a job with one of these request_ids is being submitted; retry to get it`);
    throw e;
  });
  const created = fresh.map((f) => f.job);
  let temporaries: string[] = [];
  try {
    temporaries = await claimTemporaries(s, created);
    const queues = new Map(created.map((job) => [job.requiredLabels.join("\n"), queueFor(job.requiredLabels)]));
    for (const queue of queues.values()) await ensureQueue(s, queue);
    await insertJobs(s, created, (job) => nearestMakersNamed(job, jobOfRequest));
    // Every publish settles before the records are taken back on a failure. Jobs that wait go on their queue when they leave the wait.
    await firstFailureInOrder(created.filter((job) => job.waitingFor.length === 0 && !isFinal(job.state)).map((job) => enqueue(s, job)));
  } catch (e) {
    // Not queued means not accepted: take the records back, so nothing waits forever, and
    // free the request_ids, so a retry with them makes the jobs instead of failing REQUEST_IN_FLIGHT.
    await removeJobs(s, created).catch(() => {});
    await Promise.all(claimed.map((c) => requestIds(s).delete(c.key))).catch(() => {});
    await unclaimTemporaries(s, temporaries);
    throw e;
  }
  await settleEndedBefore(s, created);
  return prepared.map((_, index) => jobOfRequest(index));
}

/** New jobs that ask for reuse and need not wait: those whose work an earlier job did end now with its result. */
async function reuseResults(s: Scheduler, created: readonly Job[], lookups: Lookups, now: Date): Promise<void> {
  await Promise.all(
    created.map(async (job) => {
      if (job.waitingFor.length) return;
      const earlier = await reusableJob(s, job, lookups);
      if (earlier) takeResult(job, earlier, now);
    }),
  );
}

/** A request checked: the job to make, or the job an earlier request with its request_id made. */
type Checked = { job: Job } | { earlier: Job };

async function checkedRequest(s: Scheduler, project: string, req: SubmitJobRequest, lookups: Lookups, earlierInCall?: EarlierInCall): Promise<Checked> {
  if (req.parent && req.parent !== project) throw invalidArgument("PARENT_MISMATCH", `a request's parent ${printable(req.parent)} is not the call's ${project}`);
  if (req.requestId) {
    checkId(req.requestId, "request_id");
    const earlier = await findByRequestId(s, project, req.requestId);
    if (earlier) return { earlier };
  }
  return { job: await checkedJob(project, req.job ?? create(JobSchema), lookups, earlierInCall) };
}

/**
 * Checks a job as a submit would (its model and data exist, its params and limits are
 * right) without storing it: what a schedule submits later. Its data must be stored
 * datasets, and it runs after no job.
 */
export async function checkJobSpec(s: Scheduler, project: string, job: Job, timeZone: string): Promise<void> {
  if (hasLocalData(job.x) || hasLocalData(job.y)) throw invalidArgument("LOCAL_DATA_IN_SCHEDULE", "a scheduled job reads stored datasets: put the data first and name it");
  if (job.after.length) throw invalidArgument("AFTER_IN_SCHEDULE", "a scheduled job runs after no other job: schedule the first, or the last, of a sequence");
  checkTemplates(job);
  // Checked as it would be submitted today; a dataset named by a date need not exist yet, so only its name is.
  const today = expandTemplates(job, nowOf(s), timeZone);
  const dated = { x: hasTemplate(job.x?.dataset), y: hasTemplate(job.y?.dataset) };
  for (const what of ["x", "y"] as const) {
    if (dated[what]) inProject(parseDatasetName(today[what]!.dataset, `job.${what}.dataset`), project, "dataset");
  }
  await checkedJob(project, today, new Lookups(s, project), undefined, dated);
}

function atIndex(e: unknown, index: number, indexed: boolean): unknown {
  if (!indexed || !(e instanceof KilnError)) return e;
  return new KilnError(e.code, e.reason, `requests[${index}]: ${e.message}`, { ...e.metadata, index: String(index) });
}

/**
 * The model versions and dataset versions a call's jobs name, each looked up once, and the
 * datasets made from its requests' data; also the versions the jobs released by one job's
 * end name (all after the same job, they mostly name the same).
 */
export class Lookups {
  private readonly models = new Map<string, Promise<ModelVersion>>();
  private readonly datasets = new Map<string, Promise<DatasetVersion>>();
  readonly made: string[] = [];

  constructor(
    readonly s: Scheduler,
    readonly project: string,
  ) {}

  model(name: string): Promise<ModelVersion> {
    let found = this.models.get(name);
    if (!found) {
      found = this.s.registry.getModelVersion({ name }).then((r) => r.version!, rethrowRemote);
      this.models.set(name, found);
      // Also under the number a tag or "latest" resolved to, which the pinned job names.
      found.then((v) => this.models.has(v.name) || this.models.set(v.name, found!), () => {});
    }
    return found;
  }

  dataset(name: string): Promise<Dataset> {
    return this.s.store.getDataset({ name }).then((r) => r.dataset!, rethrowRemote);
  }

  /** A version this call made (local data stored), so looking it up costs no call. */
  knowDatasetVersion(version: DatasetVersion): void {
    this.datasets.set(version.name, Promise.resolve(version));
  }

  datasetVersion(ref: string): Promise<DatasetVersion> {
    let found = this.datasets.get(ref);
    if (!found) {
      found = this.s.store.getDatasetVersion({ name: ref }).then((r) => r.version!, rethrowRemote);
      this.datasets.set(ref, found);
      found.then((v) => this.datasets.has(v.name) || this.datasets.set(v.name, found!), () => {});
    }
    return found;
  }
}

/** `unchecked`: inputs whose name a schedule fills in later, left as they are. */
async function checkedJob(project: string, given: Job, lookups: Lookups, earlierInCall?: EarlierInCall, unchecked = { x: false, y: false }): Promise<Job> {
  const kind = given.kind;
  if (!JobKind[kind] || kind === JobKind.UNSPECIFIED) throw invalidArgument("INVALID_JOB_KIND", "job.kind is required (FIT, PARTIAL_FIT, PREDICT, PREDICT_PROBA, SCORE, TRANSFORM, DRIFT, EXPLAIN or NOOP)");
  const maxAttempts = given.maxAttempts || DEFAULT_MAX_ATTEMPTS;
  if (maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS_LIMIT) {
    throw invalidArgument("INVALID_MAX_ATTEMPTS", `max_attempts must be from 1 to ${MAX_ATTEMPTS_LIMIT}, got ${given.maxAttempts}`);
  }
  if (given.timeout && durationMs(given.timeout) < 0) throw invalidArgument("INVALID_TIMEOUT", "timeout must not be negative");
  const keepColumns = checkKeepColumns(kind, given.keepColumns);
  const after = await checkAfter(lookups.s, project, given.after, earlierInCall);
  const job = create(JobSchema, {
    kind,
    params: given.params,
    requiredLabels: normalizeLabels(given.requiredLabels),
    timeout: given.timeout,
    maxAttempts,
    outputDataset: given.outputDataset ? parseDatasetName(given.outputDataset, "output_dataset") : "",
    keepColumns,
    after: after.names,
    waitingFor: after.waitingNames,
    reuse: given.reuse,
  });
  keepNearestMakers(job, after);
  // The job writes there, so it must be in the job's project like what it reads.
  if (job.outputDataset) inProject(job.outputDataset, project, "output dataset");
  if (kind === JobKind.NOOP) return job;
  if (kind === JobKind.DRIFT) checkDriftParams(given.params ?? {});
  if (kind === JobKind.EXPLAIN) checkExplainParams(given.params ?? {});
  if (kind === JobKind.SCORE) checkScoreParams(given.params ?? {});

  if (!given.model) throw invalidArgument("MODEL_REQUIRED", "job.model is required: projects/{p}/models/{m}[/versions/{ref}]");
  if (!given.x?.dataset && !hasLocalData(given.x)) throw invalidArgument("INPUT_REQUIRED", "job.x is required: the dataset of features, or its data");
  const { version } = parseModelRef(given.model);
  inProject(version, project, "model");
  job.model = version;
  job.x = clone(JobInputSchema, given.x!);
  const givesY = !!given.y && (!!given.y.dataset || hasLocalData(given.y));
  if (givesY && kind === JobKind.DRIFT) throw invalidArgument("UNEXPECTED_INPUT", "job.y: a DRIFT job compares X alone with the model's training data");
  if (givesY) job.y = clone(JobInputSchema, given.y!);
  const deferred = deferredBy(job, after.makers);
  deferred.x ||= unchecked.x;
  deferred.y ||= unchecked.y;
  // What the jobs it runs after made, that are over already, is what it reads, as for those still to run.
  if (after.names.length) await takeWhatJobsBeforeMade(lookups.s, job, deferred);
  await pinJob(job, lookups, deferred);
  job.fingerprint = (await fingerprintOf(job, lookups)) ?? "";
  return job;
}

/** Which of a job's references to leave as they are rather than pin (and check) now. */
interface Leave {
  model: boolean;
  x: boolean;
  y: boolean;
}

/**
 * At submit, what jobs still to run before it (`makers`) will make: a model reference
 * that is not a number while one of them trains that model, an input's latest version
 * while one writes it.
 */
function deferredBy(job: Job, makers: readonly Job[]): Leave {
  const trained = new Set(makers.filter((j) => TRAINS.has(j.kind)).map((j) => parseModelRef(j.model).model));
  const written = new Set(makers.map((j) => j.outputDataset).filter(Boolean));
  // Compared as given: a name that is not valid is no output dataset, and pinInput words its error.
  const defers = (input: JobInput | undefined) => !!input && !hasLocalData(input) && !input.version && written.has(input.dataset);
  return { model: !isPinnedModel(job.model) && trained.has(parseModelRef(job.model).model), x: defers(job.x), y: defers(job.y) };
}

/** Pins the job's model version and input versions, checking them, but for what `leave` names. */
async function pinJob(job: Job, lookups: Lookups, leave: Leave): Promise<void> {
  // Looked up together (each is a call to the registry or the store); a failure is reported in this order.
  const [model, x, y] = await firstFailureInOrder([
    leave.model ? undefined : pinModel(lookups, job.model, job.kind, !!job.y),
    leave.x ? job.x : pinInput(lookups, job.x!, "x", job.keepColumns),
    !job.y || leave.y ? job.y : pinInput(lookups, job.y, "y"),
  ] as const);
  // A clusterer scores without targets (sklearn's KMeans.score(X)); everything else scores against y.
  if (model && !y && NEEDS_Y.has(job.kind) && !isClusterer(model)) throw invalidArgument("INPUT_REQUIRED", `job.y is required for ${JobKind[job.kind]}: the dataset of targets`);
  if (model) job.model = model.name;
  job.x = x;
  job.y = y;
}

/**
 * What a job that waited left unpinned at submit, pinned and checked now that the jobs
 * it ran after made it: a model's latest version is the version the nearest jobs before
 * that trained it made, a dataset's the version the nearest that wrote it wrote (so jobs
 * after fits of one model side by side each get their own fit's); without such a job (it
 * was deleted), or for a tag, what the reference points to now. What was pinned stays (a
 * temporary input is not checked for its age again).
 */
export async function pinDeferred(s: Scheduler, job: Job, lookups = new Lookups(s, parseJobName(job.name).project)): Promise<Pinned> {
  const copy = (input: JobInput | undefined) => input && clone(JobInputSchema, input);
  const { name, kind, model: ref, params, keepColumns, outputDataset } = job;
  const pinned = create(JobSchema, { name, kind, model: ref, x: copy(job.x), y: copy(job.y), params, keepColumns, outputDataset });
  if (job.kind === JobKind.NOOP) return { model: pinned.model, x: pinned.x, y: pinned.y, fingerprint: "" };
  const leave = { model: isPinnedModel(job.model), x: !!job.x?.version, y: !job.y || !!job.y.version };
  await takeWhatJobsBeforeMade(s, pinned, leave, job.after);
  await pinJob(pinned, lookups, leave);
  return { model: pinned.model, x: pinned.x, y: pinned.y, fingerprint: (await fingerprintOf(pinned, lookups)) ?? "" };
}

/** What a job that waited gets once the jobs before it made what it reads. */
export type Pinned = Pick<Job, "model" | "x" | "y" | "fingerprint">;

/**
 * A model's "latest" and an input's latest version, as the nearest jobs the job runs after
 * made them (see madeBefore), where one did; but for what `leave` names.
 */
async function takeWhatJobsBeforeMade(s: Scheduler, job: Job, leave: Leave, after = job.after): Promise<void> {
  const { model, version } = parseModelRef(job.model);
  if (!leave.model && version === `${model}/versions/latest`) job.model = (await madeBefore(s, after, { model })) ?? job.model;
  for (const input of [leave.x ? undefined : job.x, leave.y ? undefined : job.y]) {
    if (input && !hasLocalData(input) && !input.version) input.version = (await madeBefore(s, after, { dataset: input.dataset })) ?? 0n;
  }
}

function isPinnedModel(version: string): boolean {
  return versionNumber(version) !== undefined;
}

/** Awaits all; if any failed, throws the failure of the first in order (not the first in time), as `wrap` gives it with its index. */
async function firstFailureInOrder<T extends readonly unknown[]>(
  promises: T,
  wrap: (e: unknown, index: number) => unknown = (e) => e,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.findIndex((s) => s.status === "rejected");
  if (failed >= 0) throw wrap((settled[failed] as PromiseRejectedResult).reason, failed);
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** `givesY`: an EXPLAIN with its own background needs no training data. */
async function pinModel(lookups: Lookups, ref: string, kind: JobKind, givesY: boolean): Promise<ModelVersion> {
  const { version } = parseModelRef(ref);
  inProject(version, lookups.project, "model");
  const v = await lookups.model(version);
  if (kind === JobKind.DRIFT) {
    await checkHasTrainingData(lookups.s, v, "a DRIFT job has nothing to compare X with");
    return v;
  }
  if (kind === JobKind.EXPLAIN && !givesY && v.runnable) await checkHasTrainingData(lookups.s, v, "an EXPLAIN job needs background rows: name them as job.y");
  const trains = TRAINS.has(kind);
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
  return v;
}

/** A DRIFT job's baseline, an EXPLAIN job's background: the stored X the version's fit recorded, or (fitted before fits recorded it) its training job's while that job is kept. */
async function checkHasTrainingData(s: Scheduler, v: ModelVersion, why: string): Promise<void> {
  if (trainingDataOf(v.metadata ?? {})) return;
  const trainedBy = v.lineage?.trainingJob ? (await jobs(s).get(v.lineage.trainingJob))?.value : undefined;
  const x = trainedBy && decodeJob(trainedBy).x;
  if (x && !x.temporary) return;
  throw failedPrecondition(
    "NO_TRAINING_DATA",
    `${v.name} records no stored training data (it was uploaded, defined, or fitted on local data, which is not kept): ${why}`,
    { model: v.name },
  );
}

async function pinInput(lookups: Lookups, input: JobInput, what: string, keep?: string[]): Promise<JobInput> {
  if (hasLocalData(input)) {
    const stored = await storeLocalInput(lookups.s, lookups.project, input, what, lookups.made);
    lookups.knowDatasetVersion(stored.version);
    checkInput(stored.version, stored.input, what, `the data of job.${what}`, keep);
    return stored.input;
  }
  const dataset = parseDatasetName(input.dataset, `job.${what}.dataset`);
  inProject(dataset, lookups.project, "dataset");
  const ref = `${dataset}/versions/${input.version ? String(input.version) : "latest"}`;
  const [version, made] = await firstFailureInOrder([lookups.datasetVersion(ref), input.temporary ? lookups.dataset(dataset) : undefined] as const);
  if (made) checkTemporary(lookups.s, made, what);
  checkInput(version, input, what, input.dataset, keep);
  return create(JobInputSchema, { ...input, dataset, version: version.version });
}

function inProject(name: string, project: string, what: string): void {
  if (!name.startsWith(`${project}/`)) throw invalidArgument("CROSS_PROJECT", `the ${what} ${name} is not in ${project}`);
}

import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Collection, Stored } from "@kiln/storage";
import type { SchedulerDeps } from "./deps.js";
import { decodeJob, isFinal, jobs, type JobRecord } from "./job-store.js";
import { parseJobName } from "./names.js";

/**
 * Indexes of jobs, so that lists of queued or running jobs, or of a model's jobs, and a
 * restart on the in-process bus read those jobs rather than every job ever run (100,000
 * finished jobs made `kiln jobs --state running` take 5.7 s and a restart 1.5 s more).
 *
 * - open: the jobs not over, keyed by job name;
 * - by model: every job of a model, keyed `projects/{p}/models/{m}/jobs/{id}`;
 * - by label: every job under each executor label it requires, keyed `projects/{p}/labels/{label}/jobs/{id}`;
 * - by schedule: every job a schedule submitted, keyed `projects/{p}/schedules/{s}/jobs/{id}`;
 * - successors: the jobs waiting for a job (see SUCCESSORS).
 *
 * An index holds every job it should and maybe some more: entries are written before their
 * job and removed after it (the open one's once the job's final state is stored), so a
 * crash in between leaves an entry behind, never a job without one. Readers check the job
 * itself, and skip (or drop) what they find stale.
 */
interface JobIndex {
  collection(deps: SchedulerDeps): Collection<Record<string, never>>;
  /** The keys a job has in this index now. */
  keysOf(job: Job): string[];
  /** The keys it may have had at any time (to remove it). */
  everKeysOf(job: Job): string[];
  /** The job an entry stands for. */
  jobOf(key: string): string;
}

export const OPEN_JOBS: JobIndex = {
  collection: (deps) => deps.metadata.collection<Record<string, never>>("runtime_open_jobs"),
  keysOf: (job) => (isFinal(job.state) ? [] : [job.name]),
  everKeysOf: (job) => [job.name],
  jobOf: (key) => key,
};

/** The job an entry keyed `projects/{p}/…/{id}` stands for: `projects/{p}/jobs/{id}`. */
function jobOfKey(key: string): string {
  const parts = key.split("/");
  return `${parts[0]}/${parts[1]}/jobs/${parts.at(-1)}`;
}

const modelKeysOf = (job: Job) => (job.model ? [`${modelJobsPrefix(job.model)}${parseJobName(job.name).id}`] : []);

export const JOBS_BY_MODEL: JobIndex = {
  collection: (deps) => deps.metadata.collection<Record<string, never>>("runtime_model_jobs"),
  keysOf: modelKeysOf,
  everKeysOf: modelKeysOf,
  jobOf: jobOfKey,
};

const labelKeysOf = (job: Job) => {
  const { project, id } = parseJobName(job.name);
  return job.requiredLabels.map((label) => `${labelJobsPrefix(project, label)}${id}`);
};

/** Every job that requires an executor label, under each of its labels. */
export const JOBS_BY_LABEL: JobIndex = {
  collection: (deps) => deps.metadata.collection<Record<string, never>>("runtime_label_jobs"),
  keysOf: labelKeysOf,
  everKeysOf: labelKeysOf,
  jobOf: jobOfKey,
};

/** The prefix of the jobs-by-label keys of a project's jobs that require `label` (labels have no "/"). */
export function labelJobsPrefix(project: string, label: string): string {
  return `${project}/labels/${label}/jobs/`;
}

const scheduleKeysOf = (job: Job) => (job.schedule ? [`${scheduleJobsPrefix(job.schedule)}${parseJobName(job.name).id}`] : []);

/** The jobs each schedule submitted. */
export const JOBS_BY_SCHEDULE: JobIndex = {
  collection: (deps) => deps.metadata.collection<Record<string, never>>("runtime_schedule_jobs"),
  keysOf: scheduleKeysOf,
  everKeysOf: scheduleKeysOf,
  jobOf: jobOfKey,
};

/** The prefix of the jobs-by-schedule keys of a schedule, projects/{p}/schedules/{id}. */
export function scheduleJobsPrefix(schedule: string): string {
  return `${schedule}/jobs/`;
}

const successorKey = (before: string, job: Job) => `${before}/then/${parseJobName(job.name).id}`;

/**
 * Of each job others wait for, the jobs waiting (`{before}/then/{id}`): an entry is removed
 * once the waiting job has been told how the job before it ended.
 */
export const SUCCESSORS: JobIndex = {
  collection: (deps) => deps.metadata.collection<Record<string, never>>("runtime_job_successors"),
  keysOf: (job) => job.waitingFor.map((before) => successorKey(before, job)),
  everKeysOf: (job) => job.after.map((before) => successorKey(before, job)),
  jobOf: jobOfKey,
};

/** The prefix of the SUCCESSORS entries of a job others wait for. */
export function successorsPrefix(before: string): string {
  return `${before}/then/`;
}

const INDEXES = { "open-jobs": OPEN_JOBS, "jobs-by-model": JOBS_BY_MODEL, "jobs-by-label": JOBS_BY_LABEL, "jobs-by-schedule": JOBS_BY_SCHEDULE, successors: SUCCESSORS };

/** The prefix of the jobs-by-model keys of a model, from its name or any of its versions' names. */
export function modelJobsPrefix(model: string): string {
  return `${model.replace(/\/versions\/.*$/, "").replace(/\/$/, "")}/jobs/`;
}

/** Index entries for new jobs, written before the jobs (all or none per index). */
export async function indexNewJobs(deps: SchedulerDeps, created: readonly Job[]): Promise<void> {
  for (const index of Object.values(INDEXES)) {
    await index.collection(deps).createMany(created.flatMap((job) => index.keysOf(job)).map((key) => ({ key, value: {} })));
  }
}

/** Takes jobs that ended out of the index of open jobs. */
export async function unmarkOpen(deps: SchedulerDeps, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((name) => OPEN_JOBS.collection(deps).delete(name)));
}

/** Takes jobs removed (or never stored) out of every index; `jobs` as they were stored or meant to be. */
export async function unindexJobs(deps: SchedulerDeps, removed: readonly Job[]): Promise<void> {
  await Promise.all(
    Object.values(INDEXES).flatMap((index) => removed.flatMap((job) => index.everKeysOf(job)).map((key) => index.collection(deps).delete(key))),
  );
}

/** Which indexes were built from the records stored before them, by name. */
export function indexState(deps: SchedulerDeps) {
  return deps.metadata.collection<{ builtAt: string }>("runtime_indexes");
}

const PAGE = 1_000;

/**
 * Fills each index from every stored job, once per metadata store: jobs stored by a Kiln
 * that kept no such index. Run before serving.
 */
export async function buildJobIndexes(deps: SchedulerDeps): Promise<void> {
  // Jobs from before the index of successors cannot wait for others (`after` came with it).
  for (const [name, index] of Object.entries(INDEXES).filter(([, index]) => index !== SUCCESSORS)) {
    if (await indexState(deps).get(name)) continue;
    let added = 0;
    for (let after: string | undefined; ; ) {
      const page = await jobs(deps).list({ after, limit: PAGE });
      const keys = page.flatMap(({ value }) => index.keysOf(decodeJob(value)));
      const indexed = await index.collection(deps).getMany(keys);
      for (const [i, key] of keys.entries()) {
        if (indexed[i]) continue;
        await createIfAbsent(index.collection(deps), key, {});
        added++;
      }
      if (page.length < PAGE) break;
      after = page.at(-1)!.key;
    }
    await createIfAbsent(indexState(deps), name, { builtAt: new Date().toISOString() });
    if (added) deps.logger.info({ index: name, jobs: added }, "indexed the jobs stored before the index");
  }
}

/** Creates the key unless it exists: another scheduler's build may make it meanwhile. */
export async function createIfAbsent<T>(collection: Collection<T>, key: string, value: T): Promise<void> {
  await collection.create(key, value).catch((e: unknown) => {
    if (!isKilnError(e, Code.AlreadyExists)) throw e;
  });
}

/**
 * An index as a collection of job records keyed as the index is (undefined where the job
 * is gone), for a paged scan in key order.
 */
export function indexedJobRecords(deps: SchedulerDeps, index: JobIndex): Pick<Collection<JobRecord | undefined>, "list"> {
  return {
    async list(options) {
      const entries = await index.collection(deps).list(options);
      const found = await jobs(deps).getMany(entries.map(({ key }) => index.jobOf(key)));
      return entries.map(({ key }, i): Stored<JobRecord | undefined> => ({ key, rev: found[i]?.rev ?? 0, value: found[i]?.value }));
    },
  };
}

/** Every open job, a page at a time; entries whose job is gone or over are dropped on the way. */
export async function* eachOpenJob(deps: SchedulerDeps): AsyncGenerator<Job> {
  const records = indexedJobRecords(deps, OPEN_JOBS);
  for (let after: string | undefined; ; ) {
    const page = await records.list({ after, limit: PAGE });
    const stale: string[] = [];
    for (const { key, value } of page) {
      const job = value && decodeJob(value);
      if (job && !isFinal(job.state)) yield job;
      else stale.push(key);
    }
    await unmarkOpen(deps, stale);
    if (page.length < PAGE) break;
    after = page.at(-1)!.key;
  }
}

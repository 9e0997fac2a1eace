import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Collection, Stored } from "@kiln/storage";
import type { SchedulerDeps } from "./deps.js";
import { decodeJob, isFinal, jobs, type JobRecord } from "./job-store.js";

/**
 * An index of the jobs that are not over, keyed by job name: what a restart on the
 * in-process bus puts back on the queues, and what lists of queued or running jobs read,
 * without reading every job ever run (100,000 finished jobs made `kiln jobs --state
 * running` take 5.7 s and a restart 1.5 s more).
 *
 * It holds every open job and maybe some more: an entry is written before its job and
 * removed after the job's final state is stored, so a crash in between leaves an entry
 * behind, never a job without one. Readers check the job itself, and drop what they find stale.
 */
export function openJobs(deps: SchedulerDeps): Collection<Record<string, never>> {
  return deps.metadata.collection<Record<string, never>>("runtime_open_jobs");
}

function indexState(deps: SchedulerDeps) {
  return deps.metadata.collection<{ builtAt: string }>("runtime_indexes");
}

const BUILT = "open-jobs";
const PAGE = 1_000;

export async function markOpen(deps: SchedulerDeps, names: readonly string[]): Promise<void> {
  await openJobs(deps).createMany(names.map((key) => ({ key, value: {} })));
}

export async function unmarkOpen(deps: SchedulerDeps, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((name) => openJobs(deps).delete(name)));
}

/**
 * Fills the index from every stored job, once per metadata store: jobs stored by a Kiln
 * that kept no index. Run before serving.
 */
export async function buildOpenJobsIndex(deps: SchedulerDeps): Promise<number> {
  if (await indexState(deps).get(BUILT)) return 0;
  let added = 0;
  for (let after: string | undefined; ; ) {
    const page = await jobs(deps).list({ after, limit: PAGE });
    const open = page.filter(({ value }) => !isFinal(decodeJob(value).state)).map(({ key }) => key);
    const indexed = await openJobs(deps).getMany(open);
    for (const [i, key] of open.entries()) {
      if (indexed[i]) continue;
      await createIfAbsent(openJobs(deps), key, {});
      added++;
    }
    if (page.length < PAGE) break;
    after = page.at(-1)!.key;
  }
  await createIfAbsent(indexState(deps), BUILT, { builtAt: new Date().toISOString() });
  if (added) deps.logger.info({ jobs: added }, "indexed the jobs not over yet");
  return added;
}

/** Creates the key unless it exists: another scheduler's build may make it meanwhile. */
async function createIfAbsent<T>(collection: Collection<T>, key: string, value: T): Promise<void> {
  await collection.create(key, value).catch((e: unknown) => {
    if (!isKilnError(e, Code.AlreadyExists)) throw e;
  });
}

/**
 * The index as a collection of job records (undefined where the job is gone), for a
 * paged scan of open jobs in key order.
 */
export function openJobRecords(deps: SchedulerDeps): Pick<Collection<JobRecord | undefined>, "list"> {
  return {
    async list(options) {
      const entries = await openJobs(deps).list(options);
      const found = await jobs(deps).getMany(entries.map(({ key }) => key));
      return entries.map(({ key }, i): Stored<JobRecord | undefined> => ({ key, rev: found[i]?.rev ?? 0, value: found[i]?.value }));
    },
  };
}

/** Every open job, a page at a time; entries whose job is gone or over are dropped on the way. */
export async function* eachOpenJob(deps: SchedulerDeps): AsyncGenerator<Job> {
  const records = openJobRecords(deps);
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

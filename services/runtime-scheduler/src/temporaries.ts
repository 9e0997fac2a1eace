import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ALL_PROJECTS, failedPrecondition, isKilnError } from "@kiln/core";
import { TEMPORARY_INPUT_LABEL } from "@kiln/contracts";
import type { Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Dataset } from "@kiln/proto/kiln/store/v1/store_pb";
import { decodeJob, isFinal, jobs, nowOf, type Scheduler } from "./job-store.js";
import { sweepPace } from "./sweep-pace.js";

/**
 * Which job reads a temporary input, written before the job is stored. A temporary input
 * lives while a job that is not over claims it; the sweep drops the others once they are
 * older than KILN_TEMPORARY_TTL_MS, whatever left them behind: a client gone between its
 * upload and its submit, a scheduler gone between storing a request's data and its job, a
 * store away when the job ended.
 */
interface Claim {
  job: string;
  since: string;
}

/** Claims read per round of the sweep. */
const CLAIMS_PAGE = 500;
/** The sweep runs at most this often (on executors' heartbeats), and twice per TTL when that is shorter. */
const SWEEP_EVERY_MS = 10 * 60_000;

const due = sweepPace();

function claims(s: Scheduler) {
  return s.metadata.collection<Claim>("runtime_temporaries");
}

function temporaryInputs(job: Job): string[] {
  return [...new Set([job.x, job.y].filter((input) => input?.temporary).map((input) => input!.dataset))];
}

/**
 * Checks that a dataset a job marks temporary was made as a job's input, and recently: a
 * submit has half of KILN_TEMPORARY_TTL_MS to claim it, so the sweep (which drops unclaimed
 * ones after the whole TTL) never drops one a submit is claiming.
 */
export function checkTemporary(s: Scheduler, dataset: Dataset, what: string): void {
  if (dataset.labels[TEMPORARY_INPUT_LABEL] !== "true") {
    throw failedPrecondition(
      "NOT_TEMPORARY",
      `job.${what} marks ${dataset.name} temporary, to be deleted after the job, but it was not made as a job's input (label ${TEMPORARY_INPUT_LABEL}=true); refer to it without temporary`,
      { dataset: dataset.name },
    );
  }
  const age = dataset.createTime ? nowOf(s).getTime() - timestampMs(dataset.createTime) : 0;
  const window = s.settings.temporaryTtlMs / 2;
  if (age > window) {
    throw failedPrecondition(
      "TEMPORARY_EXPIRED",
      `job.${what}: ${dataset.name} was made ${minutes(age)} ago, and a job must take a temporary input within ${minutes(window)} (half of KILN_TEMPORARY_TTL_MS); put the data again`,
      { dataset: dataset.name },
    );
  }
}

/** Claims the jobs' temporary inputs before the jobs are stored; a temporary input serves one job. */
export async function claimTemporaries(s: Scheduler, jobs: readonly Job[]): Promise<string[]> {
  const byDataset = new Map<string, string>();
  for (const job of jobs) {
    for (const name of temporaryInputs(job)) {
      if (byDataset.has(name)) throw takenTemporary(name);
      byDataset.set(name, job.name);
    }
  }
  const names = [...byDataset.keys()];
  if (names.length === 0) return names;
  const since = nowOf(s).toISOString();
  try {
    await claims(s).createMany([...byDataset].map(([key, job]) => ({ key, value: { job, since } })));
  } catch (e) {
    if (!isKilnError(e, Code.AlreadyExists)) throw e;
    const found = await claims(s).getMany(names);
    throw takenTemporary(names.find((_, i) => found[i]) ?? names[0]!);
  }
  return names;
}

/** Takes back the claims of jobs that were not stored after all. */
export async function unclaimTemporaries(s: Scheduler, names: readonly string[]): Promise<void> {
  await Promise.all(names.map((name) => claims(s).delete(name))).catch(() => {}); // the sweep finds them
}

function takenTemporary(name: string) {
  return failedPrecondition("TEMPORARY_TAKEN", `${name} is another job's temporary input, deleted after that job; a temporary input serves one job`, { dataset: name });
}

/** Inputs made for the job (from a client's local data) go once the job is over. */
export async function dropTemporaryInputs(s: Scheduler, job: Job): Promise<void> {
  await dropTemporaries(s, temporaryInputs(job), job.name);
}

/**
 * Drops datasets made for jobs, and their claims. One the store cannot drop now (it is
 * away, say) is left to the sweep, so a job's input is not kept forever for want of one call.
 */
export async function dropTemporaries(s: Scheduler, names: readonly string[], why: string): Promise<void> {
  await Promise.all(names.map((name) => drop(s, name, why)));
}

async function drop(s: Scheduler, name: string, why: string): Promise<void> {
  try {
    await s.store.deleteDataset({ name, allowMissing: true });
    await claims(s).delete(name);
  } catch (e) {
    s.logger.warn({ err: e, dataset: name, why }, "could not drop a job's temporary input; the sweep drops it once it is older than KILN_TEMPORARY_TTL_MS");
  }
}

/**
 * Drops the temporary inputs older than KILN_TEMPORARY_TTL_MS that no job still to end
 * claims; at most every SWEEP_EVERY_MS (or half the TTL) per scheduler. Cheap when there
 * is nothing to do: the store lists only old temporary datasets.
 */
export async function sweepTemporaries(s: Scheduler): Promise<void> {
  const ttl = s.settings.temporaryTtlMs;
  const now = due(s, Math.min(SWEEP_EVERY_MS, ttl / 2));
  if (now === undefined) return;
  const before = new Date(now - ttl).toISOString();
  // Claimed by a job that is over (its drop failed) or that was never stored.
  for (let after: string | undefined; ; ) {
    const page = await claims(s).list({ after, limit: CLAIMS_PAGE });
    const old = page.filter(({ value }) => value.since < before);
    const claimants = await jobs(s).getMany(old.map(({ value }) => value.job));
    for (const [i, { key }] of old.entries()) {
      const job = claimants[i];
      if (!job || isFinal(decodeJob(job.value).state)) await drop(s, key, "a job that is over");
    }
    if (page.length < CLAIMS_PAGE) break;
    after = page.at(-1)!.key;
  }
  // Claimed by no job.
  const filter = `labels.${TEMPORARY_INPUT_LABEL} = "true" AND create_time < "${before}"`;
  let pageToken = "";
  do {
    const page = await s.store.listDatasets({ parent: ALL_PROJECTS, filter, pageToken });
    const claimed = await claims(s).getMany(page.datasets.map((d) => d.name));
    for (const [i, dataset] of page.datasets.entries()) if (!claimed[i]) await drop(s, dataset.name, "no job took it");
    pageToken = page.nextPageToken;
  } while (pageToken);
}

function minutes(ms: number): string {
  return ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

import type { Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { nowOf, type Scheduler } from "./job-store.js";

/** How often at most the datasets whose drop failed are tried again (on the next job to end). */
export const DROP_RETRY_MS = 60_000;

interface PendingDrop {
  /** Why it goes: the job that ended, or the refused submit that made it. */
  why: string;
  since: string;
}

const lastRetry = new WeakMap<Scheduler, number>();

/** Inputs made for the job (from a client's local data) go once the job is over. */
export async function dropTemporaryInputs(s: Scheduler, job: Job): Promise<void> {
  const names = [job.x, job.y].filter((input) => input?.temporary).map((input) => input!.dataset);
  await dropTemporaries(s, names, job.name);
  await retryPendingDrops(s);
}

/**
 * Drops datasets made for jobs. One the store cannot drop now (it is away, say) is written
 * down and tried again later, so a job's input is not kept forever for want of one call.
 */
export async function dropTemporaries(s: Scheduler, names: readonly string[], why: string): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      try {
        await s.store.deleteDataset({ name, allowMissing: true });
      } catch (e) {
        s.logger.warn({ err: e, dataset: name, why }, "could not drop a job's temporary input; it is tried again later");
        await pending(s)
          .create(name, { why, since: nowOf(s).toISOString() })
          .catch(() => {}); // already written down
      }
    }),
  );
}

/** Tries the written-down drops again, at most once per DROP_RETRY_MS per scheduler. */
export async function retryPendingDrops(s: Scheduler): Promise<void> {
  const now = nowOf(s).getTime();
  if (now - (lastRetry.get(s) ?? -Infinity) < DROP_RETRY_MS) return;
  lastRetry.set(s, now);
  for (const { key } of await pending(s).list().catch(() => [])) {
    try {
      await s.store.deleteDataset({ name: key, allowMissing: true });
      await pending(s).delete(key);
    } catch {
      return; // the store is still away: the next round tries again
    }
  }
}

function pending(s: Scheduler) {
  return s.metadata.collection<PendingDrop>("runtime_pending_drops");
}

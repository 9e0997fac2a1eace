import { decodeJob, isFinal, jobs, type Scheduler } from "./job-store.js";
import { enqueue, ensureQueue, queueFor } from "./queues.js";

/** Jobs read per page while looking for the ones still to run. */
const PAGE = 1_000;

/**
 * After a restart on the in-process bus, whose queues died with the last process: puts
 * every job that is not over back on its queue, so none waits forever. A job that was
 * running is taken again as a redelivered one is (its attempt ends EXECUTOR_LOST and it runs
 * again, within its attempts). Only for a fresh in-process bus: JetStream kept the messages.
 * Returns how many jobs went back.
 */
export async function requeueAfterRestart(s: Scheduler): Promise<number> {
  let requeued = 0;
  const ensured = new Set<string>();
  for (let after: string | undefined; ; ) {
    const page = await jobs(s).list({ after, limit: PAGE });
    for (const { value } of page) {
      const job = decodeJob(value);
      if (isFinal(job.state)) continue;
      const queue = queueFor(job.requiredLabels);
      if (!ensured.has(queue.consumer)) await ensureQueue(s, queue);
      ensured.add(queue.consumer);
      await enqueue(s, job);
      requeued++;
    }
    if (page.length < PAGE) break;
    after = page.at(-1)!.key;
  }
  if (requeued) s.logger.info({ jobs: requeued }, "put the jobs still to run back on their queues (the in-process bus starts empty)");
  return requeued;
}

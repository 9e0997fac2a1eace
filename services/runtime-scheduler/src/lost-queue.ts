import type { Scheduler } from "./job-store.js";
import { eachOpenJob } from "./job-indexes.js";
import { enqueue, ensureQueue, queueFor } from "./queues.js";

/**
 * After a restart on the in-process bus, whose queues died with the last process: puts
 * every job that is not over back on its queue, so none waits forever. A job that was
 * running is taken again as a redelivered one is (its attempt ends EXECUTOR_LOST and it runs
 * again, within its attempts). Only for a fresh in-process bus: JetStream kept the messages.
 * Jobs waiting for others stay off (their last wait settled puts them on). Reads the index
 * of open jobs, not every job. Returns how many jobs went back.
 */
export async function requeueAfterRestart(s: Scheduler): Promise<number> {
  let requeued = 0;
  const ensured = new Set<string>();
  for await (const job of eachOpenJob(s)) {
    if (job.waitingFor.length) continue; // on no queue until its wait is settled (sweepSuccessors)
    const queue = queueFor(job.requiredLabels);
    if (!ensured.has(queue.consumer)) await ensureQueue(s, queue);
    ensured.add(queue.consumer);
    await enqueue(s, job);
    requeued++;
  }
  if (requeued) s.logger.info({ jobs: requeued }, "put the jobs still to run back on their queues (the in-process bus starts empty)");
  return requeued;
}

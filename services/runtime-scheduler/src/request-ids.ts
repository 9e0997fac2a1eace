import type { Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { readJob, type Scheduler } from "./job-store.js";
import { parseJobName } from "./names.js";

/** Which job each request_id made, per project: a submit with a request_id seen before returns that job. */
export function requestIds(s: Scheduler) {
  return s.metadata.collection<{ job: string }>("runtime_requests");
}

export function requestKey(project: string, requestId: string): string {
  return `${project}/requests/${requestId}`;
}

export async function findByRequestId(s: Scheduler, project: string, requestId: string): Promise<Job | undefined> {
  const found = await requestIds(s).get(requestKey(project, requestId));
  if (!found) return undefined;
  return (await readJob(s, found.value.job).catch(() => undefined))?.job;
}

/** Frees a deleted job's request_id for another submit (only if it still names that job). */
export async function forgetRequestId(s: Scheduler, job: Job): Promise<void> {
  if (!job.requestId) return;
  const key = requestKey(parseJobName(job.name).project, job.requestId);
  const found = await requestIds(s).get(key);
  if (found?.value.job === job.name) await requestIds(s).delete(key, found.rev);
}

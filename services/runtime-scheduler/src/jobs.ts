import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { parseParent } from "@kiln/core";
import { JobState, type Job, type ListJobsRequest } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { scanPage } from "@kiln/storage";
import { endJob, jobError } from "./attempts.js";
import { changeJob, decodeJob, isFinal, jobs, readJob, type Scheduler } from "./job-store.js";
import { jobsPrefix, parseJobName, parseModelRef } from "./names.js";

export async function getJob(s: Scheduler, name: string): Promise<Job> {
  parseJobName(name);
  return (await readJob(s, name)).job;
}

/** Newest first, filtered by state, model and required label. */
export async function listJobs(s: Scheduler, req: ListJobsRequest): Promise<{ jobs: Job[]; nextPageToken: string }> {
  const project = parseParent(req.parent);
  const model = req.model ? parseModelRef(req.model).model : "";
  const states = new Set(req.states);
  const keep = (job: Job) =>
    (states.size === 0 || states.has(job.state)) &&
    (!model || job.model.startsWith(`${model}/versions/`)) &&
    (!req.label || job.requiredLabels.includes(req.label));
  const page = await scanPage(jobs(s), {
    prefix: jobsPrefix(project),
    pageSize: req.pageSize,
    pageToken: req.pageToken,
    filterText: JSON.stringify([[...states].sort(), model, req.label]),
    matches: (record) => keep(decodeJob(record)),
    reverse: true,
  });
  return { jobs: page.items.map(decodeJob), nextPageToken: page.nextPageToken };
}

/** Queued jobs never start; running ones are told to stop by their executor's next heartbeat or progress report. */
export async function cancelJob(s: Scheduler, name: string): Promise<Job> {
  parseJobName(name);
  const { job } = await changeJob(s, name, (job, now) => {
    if (isFinal(job.state)) return undefined;
    const attempt = job.attempts.at(-1);
    if (job.state === JobState.RUNNING && attempt && !attempt.endTime) attempt.endTime = timestampFromDate(now);
    endJob(job, now, JobState.CANCELLED, jobError("CANCELLED", "CANCELLED_BY_USER", "the job was cancelled"));
    return "cancelled";
  });
  return job;
}

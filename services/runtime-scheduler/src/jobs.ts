import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { invalidArgument, parseParent } from "@kiln/core";
import { JobState, type Job, type ListJobsRequest } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { scanPage } from "@kiln/storage";
import { endJob, jobError } from "./attempts.js";
import { rethrowRemote } from "./job-errors.js";
import { changeJob, decodeJob, isFinal, jobs, readJob, type JobRecord, type Scheduler } from "./job-store.js";
import { indexedJobRecords, JOBS_BY_LABEL, JOBS_BY_MODEL, JOBS_BY_SCHEDULE, labelJobsPrefix, modelJobsPrefix, OPEN_JOBS, scheduleJobsPrefix } from "./job-indexes.js";
import { jobsPrefix, parseJobName, parseModelRef, parseResourceName, versionNumber } from "./names.js";

export async function getJob(s: Scheduler, name: string): Promise<Job> {
  parseJobName(name);
  return (await readJob(s, name)).job;
}

/** Newest first, filtered by state, model (or model version), required label and schedule. */
export async function listJobs(s: Scheduler, req: ListJobsRequest): Promise<{ jobs: Job[]; nextPageToken: string }> {
  const project = parseParent(req.parent);
  const model = req.model ? await modelFilter(s, req.model) : "";
  const schedule = req.schedule ? scheduleFilter(project, req.schedule) : "";
  const states = new Set(req.states);
  const keep = (job: Job) => job.name.startsWith(jobsPrefix(project)) && matchesJob(job, states, model, req.label) && (!schedule || job.schedule === schedule);
  // Queued or running jobs are found in the index of open jobs, a schedule's, a model's
  // or a label's in the index by each, rather than among all jobs ever run.
  const onlyOpen = states.size > 0 && [...states].every((state) => !isFinal(state));
  const [records, prefix] = onlyOpen
    ? [indexedJobRecords(s, OPEN_JOBS), jobsPrefix(project)]
    : schedule
      ? [indexedJobRecords(s, JOBS_BY_SCHEDULE), scheduleJobsPrefix(schedule)]
      : model
        ? [indexedJobRecords(s, JOBS_BY_MODEL), modelJobsPrefix(model)]
        : req.label
          ? [indexedJobRecords(s, JOBS_BY_LABEL), labelJobsPrefix(project, req.label)]
          : [jobs(s), jobsPrefix(project)];
  const page = await scanPage<JobRecord | undefined>(records, {
    prefix,
    pageSize: req.pageSize,
    pageToken: req.pageToken,
    filterText: JSON.stringify([[...states].sort(), model, req.label, schedule]),
    matches: (record) => record !== undefined && keep(decodeJob(record)),
    reverse: true,
  });
  return { jobs: page.items.map((record) => decodeJob(record!)), nextPageToken: page.nextPageToken };
}

/**
 * Whether a job is in one of `states` (any, if none), ran `model` (as modelFilter gives it:
 * a version's name, or a model's name and "/versions/" for any of its versions) and requires
 * `label` (each, if empty: any).
 */
export function matchesJob(job: Job, states: ReadonlySet<JobState>, model: string, label: string): boolean {
  return (
    (states.size === 0 || states.has(job.state)) &&
    (!model || (model.endsWith("/") ? job.model.startsWith(model) : job.model === model)) &&
    (!label || job.requiredLabels.includes(label))
  );
}

/** ListJobs' schedule: a schedule of the listed project. */
function scheduleFilter(project: string, name: string): string {
  const parsed = parseResourceName(name, "schedules");
  if (parsed.project !== project) throw invalidArgument("CROSS_PROJECT", `the schedule ${name} is not in ${project}`);
  return name;
}

/**
 * What a job's (pinned) model version must be: any version of a model (a prefix ending in
 * "/"), or one version, a tag resolved to the version it points to now.
 */
export async function modelFilter(s: Scheduler, ref: string): Promise<string> {
  const { model, version } = parseModelRef(ref);
  if (!/\/versions\//.test(ref)) return `${model}/versions/`;
  if (versionNumber(version) !== undefined) return version;
  return (await s.registry.getModelVersion({ name: version }).catch(rethrowRemote)).version!.name;
}

/** Queued jobs never start; running ones are told to stop by their executor's next heartbeat or progress report. */
export async function cancelJob(s: Scheduler, name: string): Promise<Job> {
  parseJobName(name);
  const { job } = await changeJob(s, name, (job, now) => {
    if (isFinal(job.state)) return undefined;
    const attempt = job.attempts.at(-1);
    const error = jobError("CANCELLED", "CANCELLED_BY_USER", "the job was cancelled");
    // The running attempt ends here, and says why (its executor's own report comes too late to count).
    if (job.state === JobState.RUNNING && attempt && !attempt.endTime) Object.assign(attempt, { endTime: timestampFromDate(now), error });
    endJob(job, now, JobState.CANCELLED, error);
    return "cancelled";
  });
  return job;
}

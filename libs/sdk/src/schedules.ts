import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { JobSchema } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { ScheduleSchema, type Schedule, type ScheduleService } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { call } from "./errors.js";
import { jobInfo, type JobInfo } from "./job-summaries.js";
import { resourceName, shortName } from "./names.js";
import type { Runtime, ScheduledJobSpec } from "./runtime.js";
import { allPages } from "@kiln/contracts";

export interface ScheduleSpec {
  /** crontab's five fields (`0 2 * * *`: 02:00 every day), or six with seconds first. */
  cron: string;
  /** The IANA time zone it is read in (default UTC). */
  timeZone?: string;
  /** The job submitted each time; "latest" and tags resolve at each submit. */
  job: ScheduledJobSpec;
  paused?: boolean;
  /** Make up the times missed while no scheduler ran (the last 1,000 at most), each with its own dates; default: one job, then the next time after now. */
  catchUp?: boolean;
}

export interface ScheduleInfo {
  name: string;
  id: string;
  cron: string;
  timeZone: string;
  /** The job it submits, as given (kind, model, x, y, params…). */
  job: Pick<JobInfo, "kind" | "model" | "x" | "y" | "params" | "outputDataset" | "keepColumns" | "requiredLabels" | "maxAttempts" | "reuse">;
  paused: boolean;
  catchUp: boolean;
  nextRunTime?: Date;
  /** Its last submit: when it was due, the job it made ("" if refused), why it was refused. */
  lastRunTime?: Date;
  lastJob: string;
  lastError: string;
  runCount: number;
  /** The jobs it submitted last (names), newest first, up to 20. */
  recentJobs: string[];
  createTime?: Date;
  updateTime?: Date;
  creator: string;
  updater: string;
}

/**
 * Jobs on a schedule (omega-ml's scheduled jobs, Kubeflow's recurring runs):
 * `await kiln.schedules.create("nightly-fit", { cron: "0 2 * * *", job: { kind: "fit", model: "churn", x: "customers", y: "churned" } })`.
 */
export class Schedules {
  constructor(
    private readonly client: Client<typeof ScheduleService>,
    private readonly project: string,
    private readonly runtime: Runtime,
  ) {}

  async create(id: string, spec: ScheduleSpec): Promise<ScheduleInfo> {
    const res = await call(() => this.client.createSchedule({ parent: `projects/${this.project}`, scheduleId: id, schedule: this.message(spec) }));
    return scheduleInfo(res.schedule!);
  }

  async get(id: string): Promise<ScheduleInfo> {
    return scheduleInfo((await call(() => this.client.getSchedule({ name: this.name(id) }))).schedule!);
  }

  async list(): Promise<ScheduleInfo[]> {
    return allPages(async (pageToken) => {
      const res = await call(() => this.client.listSchedules({ parent: `projects/${this.project}`, pageSize: 1000, pageToken }));
      return { items: res.schedules.map(scheduleInfo), nextPageToken: res.nextPageToken };
    });
  }

  /** Changes what `spec` gives; a changed time, or a resume, goes on from the next time after now. */
  async update(id: string, spec: Partial<ScheduleSpec>): Promise<ScheduleInfo> {
    const mask = [
      spec.cron !== undefined && "cron",
      spec.timeZone !== undefined && "time_zone",
      spec.job !== undefined && "job",
      spec.paused !== undefined && "paused",
      spec.catchUp !== undefined && "catch_up",
    ].filter(
      (f): f is string => typeof f === "string",
    );
    const schedule = this.message({ cron: "", ...spec } as ScheduleSpec, spec.job === undefined);
    schedule.name = this.name(id);
    return scheduleInfo((await call(() => this.client.updateSchedule({ schedule, updateMask: mask }))).schedule!);
  }

  pause(id: string): Promise<ScheduleInfo> {
    return this.update(id, { paused: true });
  }

  resume(id: string): Promise<ScheduleInfo> {
    return this.update(id, { paused: false });
  }

  /**
   * Submits the jobs of the times its cron names from `from` to `to` (both included, `to`
   * not after now, at most 1,000 times), as if it had run then: each time's job once, its
   * dates filled in. Each time's outcome, oldest first: the job, or why it was refused.
   */
  async backfill(id: string, range: { from: Date; to: Date }): Promise<{ time: Date; job: string; error: string }[]> {
    const res = await call(() => this.client.backfillSchedule({ name: this.name(id), startTime: timestampFromDate(range.from), endTime: timestampFromDate(range.to) }));
    return res.runs.map((r) => ({ time: timestampDate(r.time!), job: r.job, error: r.error }));
  }

  /** The jobs it submitted stay. */
  async delete(id: string): Promise<void> {
    await call(() => this.client.deleteSchedule({ name: this.name(id) }));
  }

  private message(spec: ScheduleSpec, withoutJob = false): Schedule {
    return create(ScheduleSchema, {
      cron: spec.cron,
      timeZone: spec.timeZone ?? "",
      paused: spec.paused ?? false,
      catchUp: spec.catchUp ?? false,
      job: withoutJob ? undefined : create(JobSchema, this.runtime.scheduledJob(spec.job)),
    });
  }

  private name(id: string): string {
    return resourceName(this.project, "schedules", id);
  }
}

export function scheduleInfo(s: Schedule): ScheduleInfo {
  const job = jobInfo(s.job ?? create(JobSchema));
  return {
    name: s.name,
    id: shortName(s.name),
    cron: s.cron,
    timeZone: s.timeZone,
    job: { kind: job.kind, model: job.model, x: job.x, y: job.y, params: job.params, outputDataset: job.outputDataset, keepColumns: job.keepColumns, requiredLabels: job.requiredLabels, maxAttempts: job.maxAttempts, reuse: job.reuse },
    paused: s.paused,
    catchUp: s.catchUp,
    nextRunTime: s.nextRunTime ? timestampDate(s.nextRunTime) : undefined,
    lastRunTime: s.lastRunTime ? timestampDate(s.lastRunTime) : undefined,
    lastJob: s.lastJob,
    lastError: s.lastError,
    runCount: Number(s.runCount),
    recentJobs: s.recentJobs,
    createTime: s.createTime ? timestampDate(s.createTime) : undefined,
    updateTime: s.updateTime ? timestampDate(s.updateTime) : undefined,
    creator: s.creator,
    updater: s.updater,
  };
}

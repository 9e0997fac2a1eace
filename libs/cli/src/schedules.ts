import type { Command } from "commander";
import { NotFoundError, type DatasetRef, type DriftJobOptions, type JobKindName, type Kiln, type ScheduleInfo } from "@kiln/sdk";
import { isLocalFile } from "./job-data.js";
import { clip, errorText, resultText, shortDataset, shortModel } from "./job-show.js";
import { driftJobOptions, driftThresholdFlags } from "./drift.js";
import { collect, parseJsonPairs } from "./key-values.js";
import { printFields, printJson, printTable, shortTime, type Output } from "./output.js";
import { columnList, parsePastTime } from "./option-values.js";
import { inputs, jobOptions, runFlags, type RunFlags } from "./runtime.js";

type Connect = () => Promise<Kiln>;

/** A recent job's result or error is cut to this in schedules:show; jobs:show has it whole. */
const RESULT_WIDTH = 80;

const KINDS: JobKindName[] = ["fit", "partial_fit", "predict", "predict_proba", "transform", "score", "drift", "explain"];

interface CreateFlags extends RunFlags, DriftJobOptions {
  cron: string;
  timeZone?: string;
  paused?: boolean;
  catchUp?: boolean;
  param?: string[];
  columns?: string[];
  target?: string;
  keep?: string[];
  output?: string;
}

/** Jobs on a schedule: schedules, schedules:create, schedules:show, schedules:pause, schedules:resume, schedules:delete. */
export function scheduleCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("schedules")
    .description("the schedules: when each submits its job next, and what its last submit made")
    .action(async () => {
      const o = output();
      const list = await (await connect()).schedules.list();
      if (o.json) return printJson(o, list);
      printTable(o, list.map(row), ["id", "cron", "job", "next", "last", "runs", "last job"]);
    });

  driftThresholdFlags(
    runFlags(
      program
        .command("schedules:create")
        .description(
          "submit a job on a cron (as runtime:fit, runtime:drift… would, each time): KIND is fit, partial_fit, predict, predict_proba, transform, score, drift or explain (Y: its background rows; --param background_rows=50 …); X and Y are datasets (NAME or NAME@VERSION). " +
            "Names, --filter and --param values may hold the date it is due: {{date}}, {{date-1}}, {{date_nodash}} (requests-{{date-1}}: yesterday's request log)",
        )
        .argument("<id>")
        .argument("<kind>")
        .argument("<model>", "NAME, NAME:VERSION or NAME:TAG (a tag or latest resolves at each submit)")
        .argument("<x>")
        .argument("[y]")
        .requiredOption("--cron <expr>", 'when: "0 2 * * *" is 02:00 every day, "*/15 * * * *" every quarter hour (six fields: seconds first)')
        .option("--time-zone <zone>", "the IANA time zone the cron is read in (default UTC)")
        .option("--paused", "create it paused")
        .option("--catch-up", "make up the times missed while no scheduler ran (the last 1,000), each with its own dates")
        .option("--param <key=value>", "a fit's estimator param, or a job's param such as an explain's background_rows (repeatable)", collect)
        .option("--columns <a,b>", "X's feature columns", columnList)
        .option("--target <column>", "Y's target column (of X's dataset when Y is not given)")
        .option("--keep <a,b>", "X's columns copied into each result row", columnList)
        .option("--output <dataset>", "a predict's, transform's or explain's rows also go to this dataset")
        .option("--fail-on-drift", "a drift job that finds drift fails (DATA_DRIFT)"),
    ),
  ).action(async (id: string, kind: string, model: string, x: string, y: string | undefined, opts: CreateFlags) => {
    const o = output();
    if (!KINDS.includes(kind as JobKindName)) throw new Error(`a scheduled job's kind is one of ${KINDS.join(", ")}, not "${kind}"`);
    for (const ref of [x, y]) if (ref !== undefined && isLocalFile(ref)) throw new Error(`${ref}: a schedule reads stored datasets; put the file first (datasets:put) and name the dataset`);
    const { X, Y } = inputs(x, y, opts);
    const drift = driftJobOptions(opts);
    if (kind !== "drift" && Object.values(drift).some((v) => v !== undefined)) throw new Error("--psi-threshold, --p-value-threshold and --fail-on-drift are a drift job's");
    const job = { ...jobOptions(opts), ...drift, kind: kind as JobKindName, model, x: X as DatasetRef, y: Y as DatasetRef | undefined, params: parseJsonPairs("--param", opts.param), keep: opts.keep, output: opts.output };
    const made = await (await connect()).schedules.create(id, { cron: opts.cron, timeZone: opts.timeZone, paused: opts.paused, catchUp: opts.catchUp, job });
    if (o.json) return printJson(o, made);
    o.out.write(`schedule ${made.id}: ${describeJob(made)} at ${made.cron} (${made.timeZone}), ${made.paused ? "paused" : `next ${shortTime(made.nextRunTime)}`}\n`);
  });

  program
    .command("schedules:show")
    .description("a schedule: its cron, its job, when it submits next, its last submit")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const kiln = await connect();
      const s = await kiln.schedules.get(id);
      if (o.json) return printJson(o, s);
      printFields(o, [
        ["name", s.name],
        ["cron", `${s.cron} (${s.timeZone})`],
        ["job", describeJob(s)],
        ["state", s.paused ? "paused" : "active"],
        ["missed times", s.catchUp ? "made up (catch up)" : "not made up"],
        ["next", shortTime(s.nextRunTime)],
        ["last", s.lastRunTime ? `${shortTime(s.lastRunTime)}: ${s.lastJob ? `job ${s.lastJob.split("/").pop()}` : `refused: ${s.lastError}`}` : "never"],
        ["runs", s.runCount],
        ["created", s.creator ? `${shortTime(s.createTime)} by ${s.creator}` : shortTime(s.createTime)],
        ["updated", s.updater ? `${shortTime(s.updateTime)} by ${s.updater}` : shortTime(s.updateTime)],
      ]);
      if (s.recentJobs.length === 0) return;
      // Each job as it is now; one deleted since (jobs:delete, a purge) says so.
      const jobs = await Promise.all(
        s.recentJobs.map((name) =>
          kiln.runtime
            .job(name)
            .info()
            .catch((e: unknown) => {
              if (e instanceof NotFoundError) return undefined;
              throw e;
            }),
        ),
      );
      o.out.write("\n");
      printTable(
        o,
        s.recentJobs.map((name, i) => {
          const job = jobs[i];
          const outcome = job?.state === "succeeded" ? resultText(job) : job?.state === "failed" ? errorText(job.error) : "";
          return { job: name.split("/").pop(), state: job?.state ?? "deleted", submitted: shortTime(job?.createTime), ended: shortTime(job?.endTime), result: clip(outcome, RESULT_WIDTH) };
        }),
        ["job", "state", "submitted", "ended", "result"],
      );
    });

  for (const [verb, paused] of [["pause", true], ["resume", false]] as const) {
    program
      .command(`schedules:${verb}`)
      .description(paused ? "stop a schedule submitting jobs" : "submit a paused schedule's jobs again, from its next time after now")
      .argument("<id>")
      .action(async (id: string) => {
        const o = output();
        const kiln = await connect();
        const s = paused ? await kiln.schedules.pause(id) : await kiln.schedules.resume(id);
        if (o.json) return printJson(o, s);
        o.out.write(`schedule ${s.id} ${paused ? "paused" : `resumed: next ${shortTime(s.nextRunTime)}`}\n`);
      });
  }

  program
    .command("schedules:backfill")
    .description("submit the jobs of the times the cron names in a past range, as if it had run then (each time once; dates in templates filled in)")
    .argument("<id>")
    .requiredOption("--from <time>", 'the first time: an age ("7d", "12h") before now, a date (2026-11-01, midnight UTC) or an ISO time', parsePastTime("--from"))
    .option("--to <time>", "the last time, as --from (default: now)", parsePastTime("--to"))
    .action(async (id: string, opts: { from: Date; to?: Date }) => {
      const o = output();
      const runs = await (await connect()).schedules.backfill(id, { from: opts.from, to: opts.to ?? new Date() });
      if (o.json) return printJson(o, runs);
      printTable(
        o,
        runs.map((r) => ({ time: shortTime(r.time), job: r.job ? r.job.split("/").pop() : "", refused: r.error })),
        ["time", "job", "refused"],
      );
      const refused = runs.filter((r) => r.error).length;
      o.err.write(`${runs.length} times, ${runs.length - refused} jobs${refused ? `, ${refused} refused` : ""}\n`);
    });

  program
    .command("schedules:delete")
    .description("delete a schedule (the jobs it submitted stay)")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      await (await connect()).schedules.delete(id);
      if (o.json) return printJson(o, { id, deleted: true });
      o.out.write(`deleted schedule ${id}\n`);
    });
}

function row(s: ScheduleInfo): Record<string, unknown> {
  return {
    id: s.id,
    cron: s.timeZone === "UTC" ? s.cron : `${s.cron} ${s.timeZone}`,
    job: describeJob(s),
    next: s.paused ? "paused" : shortTime(s.nextRunTime),
    last: s.lastRunTime ? shortTime(s.lastRunTime) : "",
    runs: s.runCount,
    "last job": s.lastJob ? s.lastJob.split("/").pop() : s.lastError ? `refused: ${s.lastError}` : "",
  };
}

/** "fit churn:1 on customers, customers[churned]". */
function describeJob(s: ScheduleInfo): string {
  const data = [s.job.x, s.job.y].filter((d) => d !== undefined).map((d) => `${shortDataset(d.dataset, d.version || undefined)}${d.columns.length ? `[${d.columns.join(",")}]` : ""}`);
  return `${s.job.kind} ${shortModel(s.job.model)}${data.length ? ` on ${data.join(", ")}` : ""}`;
}

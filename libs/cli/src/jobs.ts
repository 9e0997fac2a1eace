import type { Command } from "commander";
import { hasResultRows, type JobInfo, type JobStateName, type Kiln } from "@kiln/sdk";
import { follow, jobProgress, silent } from "./job-progress.js";
import { resultsTarget, writeResults } from "./job-results.js";
import { errorText, executorColumns, executorRow, jobColumns, jobRow, printJob, progressText, resultText } from "./job-show.js";
import { printJson, printTable, type Output } from "./output.js";
import { parsePastTime, positiveInt } from "./option-values.js";
import { confirm } from "./confirm.js";
import { countBar } from "./progress.js";

type Connect = () => Promise<Kiln>;

const states: JobStateName[] = ["queued", "running", "succeeded", "failed", "cancelled"];
const final = new Set<JobStateName>(["succeeded", "failed", "cancelled"]);

/** Jobs and executors: jobs, jobs:show, jobs:watch, jobs:results, jobs:cancel, jobs:delete, jobs:purge, executors. */
export function jobCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("jobs")
    .description("recent jobs, newest first")
    .option("--state <state>", `only jobs in this state (repeatable): ${states.join(", ")}`, stateOption(states))
    .option("--model <name>", "only jobs of this model (NAME:VERSION or NAME:TAG: of that version)")
    .option("--label <label>", "only jobs that require this executor label")
    .option("--schedule <id>", "only jobs this schedule submitted")
    .option("--limit <n>", "at most n jobs", positiveInt, 20)
    .action(async (opts: { state?: JobStateName[]; model?: string; label?: string; schedule?: string; limit: number }) => {
      const o = output();
      const jobs = await (await connect()).runtime.jobs({ states: opts.state, model: opts.model, label: opts.label, schedule: opts.schedule, limit: opts.limit });
      if (o.json) return printJson(o, jobs);
      printTable(o, jobs.map(jobRow), jobColumns);
    });

  program
    .command("jobs:show")
    .description("a job: inputs, params, state, progress, each attempt, result and error")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const info = await (await connect()).runtime.job(id).info();
      if (o.json) return printJson(o, info);
      printJob(o, info);
    });

  program
    .command("jobs:watch")
    .description("follow a job's progress until it ends (exit status 1 unless it succeeded)")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const kiln = await connect();
      const handle = kiln.runtime.job(id);
      // A terminal gets a live line; scripts and pipes get a line per change (JSON lines with --json).
      const live = !o.json && process.stderr.isTTY;
      let previous = "";
      const onChange = (info: JobInfo) => {
        if (live) return;
        if (o.json) return void o.out.write(JSON.stringify(info) + "\n");
        if (final.has(info.state)) return; // the closing line says it
        const line = [info.state, progressText(info)].filter(Boolean).join("  ");
        if (line !== previous) o.out.write(`${line}\n`);
        previous = line;
      };
      const info = await follow(handle, live ? jobProgress(`job ${id}`) : silent, { onChange, kiln });
      if (!o.json) o.out.write(`job ${info.id} ${info.state}${resultText(info) ? `: ${resultText(info)}` : ""}\n`);
    });

  program
    .command("jobs:results")
    .description("a predict, predict_proba or transform job's rows (CSV on stdout unless -o names a .csv, .tsv, .json, .ndjson, .arrow or .parquet file), streamed as they come while it runs; kept for KILN_RESULTS_TTL_MS after")
    .argument("<id>")
    .option("-o, --out <file>", "write rows to a file instead of stdout")
    .option("--format <format>", "csv, tsv, json, ndjson, arrow or parquet (default: from -o's extension)")
    .action(async (id: string, opts: { out?: string; format?: string }) => {
      const o = output();
      const target = resultsTarget(o, opts.out, opts.format);
      const kiln = await connect();
      const handle = kiln.runtime.job(id);
      const { kind } = await handle.info();
      if (!hasResultRows(kind)) throw new Error(`job ${id} is a ${kind} job: only predict, predict_proba, transform and explain jobs have result rows (jobs:show has its result)`);
      const { rows } = await writeResults(handle, target, kind, kiln);
      if (target.path === "-") return;
      if (o.json) return printJson(o, { job: id, rows, file: opts.out });
      o.out.write(`wrote ${rows} rows to ${opts.out} (job ${id})\n`);
    });

  program
    .command("jobs:cancel")
    .description("cancel a queued or running job")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const handle = (await connect()).runtime.job(id);
      // Cancelling an ended job changes nothing; asking first lets the message say so.
      const before = await handle.info();
      const info = final.has(before.state) ? before : await handle.cancel();
      if (o.json) return printJson(o, info);
      if (info !== before && info.state === "cancelled") o.out.write(`cancelled ${info.id}\n`);
      else o.out.write(`job ${info.id} had already ${info.state === "failed" ? `failed: ${errorText(info.error)}` : info.state}; nothing to cancel\n`);
    });

  program
    .command("jobs:delete")
    .description("delete jobs that are over (their records and results; model versions and datasets they made stay)")
    .argument("<ids...>")
    .action(async (ids: string[]) => {
      const o = output();
      const kiln = await connect();
      for (const id of ids) {
        await kiln.runtime.job(id).delete();
        if (!o.json) o.out.write(`deleted ${id}\n`);
      }
      if (o.json) printJson(o, { deleted: ids });
    });

  program
    .command("jobs:purge")
    .description("delete the jobs that ended before a time (asks first; --dry-run only counts them)")
    .requiredOption("--ended-before <when>", 'an age ("30d", "12h", "2w") or a time (ISO 8601, epoch ms)', parsePastTime("--ended-before"))
    .option("--state <state>", `only jobs in this final state (repeatable): ${[...final].join(", ")}`, stateOption([...final], ": only jobs that are over are deleted"))
    .option("--model <name>", "only jobs of this model (NAME:VERSION or NAME:TAG: of that version)")
    .option("--label <label>", "only jobs that require this executor label")
    .option("--dry-run", "count them, delete nothing")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (opts: { endedBefore: Date; state?: JobStateName[]; model?: string; label?: string; dryRun?: boolean; yes?: boolean }) => {
      const o = output();
      const runtime = (await connect()).runtime;
      const which = { endedBefore: opts.endedBefore, states: opts.state, model: opts.model, label: opts.label };
      const when = opts.endedBefore.toISOString();
      let total: number | undefined;
      if (opts.dryRun || !opts.yes) {
        const found = await runtime.purgeJobs({ ...which, dryRun: true });
        total = found.count;
        if (opts.dryRun || found.count === 0) {
          if (o.json) return printJson(o, { ...found, deleted: false });
          return void o.out.write(`${jobCount(found.count)} ended before ${when}${sampleText(found.sample, found.count)}\n`);
        }
        const asked = `delete ${jobCount(found.count)} that ended before ${when}${sampleText(found.sample, found.count)}?`;
        if (!(await confirm(asked, "pass --yes to delete them, or --dry-run to count them"))) return void o.err.write("nothing deleted\n");
      }
      const bar = countBar("deleting", "jobs", total);
      const purged = await runtime.purgeJobs({ ...which, onProgress: bar.update }).finally(bar.done);
      if (o.json) return printJson(o, { ...purged, deleted: true });
      o.out.write(`deleted ${jobCount(purged.count)} that ended before ${when}\n`);
    });

  program
    .command("executors")
    .description("executors: labels, slots, running jobs, last heartbeat")
    .action(async () => {
      const o = output();
      const executors = await (await connect()).runtime.executors();
      if (o.json) return printJson(o, executors);
      printTable(o, executors.map(executorRow), executorColumns);
    });
}

function jobCount(n: number): string {
  return `${n.toLocaleString("en-US")} job${n === 1 ? "" : "s"}`;
}

/** " (a, b, c, …)": the first few of a purge's jobs. */
function sampleText(sample: string[], count: number): string {
  if (sample.length === 0) return "";
  const shown = sample.slice(0, 3);
  return ` (${shown.join(", ")}${count > shown.length ? ", …" : ""})`;
}

/** A repeatable --state of these states. */
function stateOption(allowed: readonly JobStateName[], why = ""): (value: string, previous: JobStateName[] | undefined) => JobStateName[] {
  return (value, previous) => {
    if (!allowed.includes(value as JobStateName)) throw new Error(`--state must be one of ${allowed.join(", ")}${why}`);
    return [...(previous ?? []), value as JobStateName];
  };
}

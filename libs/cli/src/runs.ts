import type { Command } from "commander";
import type { DataQuery, Kiln } from "@kiln/sdk";
import { collect } from "./key-values.js";
import { comparedRuns, compareTable, eventRow, parseRunSelection, stats, type Stat } from "./experiment-show.js";
import { checkWritable, formatOf, writeTableFile } from "./formats.js";
import { formatMetric } from "./job-show.js";
import { positiveInt } from "./option-values.js";
import { printFields, printJson, printTable, type Output } from "./output.js";
import { runFields, runsArrowTable, runsTable } from "./run-search.js";

type Connect = () => Promise<Kiln>;

/** An experiment's runs: runs (MLflow's search_runs), runs:show, runs:compare. */
export function runCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("runs")
    .description("an experiment's runs that a filter keeps, in an order, with their params and metrics (the last value): the best runs of a sweep")
    .argument("<name>")
    .option("--filter <expr>", "MLflow's run filter, e.g. \"metrics.acc > 0.9 AND params.model = 'tree'\"")
    .option("--order-by <entry>", 'e.g. "metrics.acc DESC" (repeatable; newest first without it)', collect)
    .option("--limit <n>", "at most this many runs", positiveInt, 100)
    .option("-o, --output <file>", "write the runs to a file (a column per param and metric); the format from its extension: .csv, .tsv, .json, .ndjson, .arrow, .parquet")
    .action(async (name: string, opts: { filter?: string; orderBy?: string[]; limit: number; output?: string }) => {
      const o = output();
      const format = opts.output && formatOf(opts.output);
      if (opts.output && !format) throw new Error(`-o: say the format by the file's extension (.csv, .tsv, .json, .ndjson, .arrow, .parquet), not "${opts.output}"`);
      if (format) checkWritable(format, opts.output!);
      const runs = await (await connect()).experiment(name).search({ filter: opts.filter, orderBy: opts.orderBy, limit: opts.limit });
      if (format) {
        const table = runsArrowTable(runs, opts.orderBy ?? []);
        await writeTableFile(
          (async function* () {
            yield* table.batches;
          })(),
          opts.output!,
          format,
        );
        if (o.json) return printJson(o, { runs: runs.length, file: opts.output });
        return void o.out.write(`wrote ${runs.length} runs to ${opts.output}\n`);
      }
      if (o.json) return printJson(o, runs);
      const { rows, columns } = runsTable(runs, opts.orderBy ?? []);
      printTable(o, rows, columns);
    });

  program
    .command("runs:show")
    .description("one run: status, times, host, who and which job opened it, tags, params, metrics (last and its step, min, max, count) and artifacts")
    .argument("<name>", "the experiment")
    .argument("<run>", "the run's number", positiveInt)
    .action(async (name: string, run: number) => {
      const o = output();
      const exp = (await connect()).experiment(name);
      const [[summary], artifacts] = await Promise.all([exp.summary([run]), exp.data({ run, event: "artifact" })]);
      const s = summary!;
      if (o.json) return printJson(o, { ...s, artifacts: artifacts.map((a) => ({ name: a.key, logged: a.dt, value: a.value })) });
      printFields(o, runFields(s));
      const section = (title: string, rows: Record<string, unknown>[], columns: string[]) => {
        o.out.write(`\n${title}\n`);
        if (rows.length) printTable(o, rows, columns);
        else o.out.write("none\n");
      };
      section("params:", Object.entries(s.params).sort(([a], [b]) => (a < b ? -1 : 1)).map(([param, value]) => ({ param, value })), ["param", "value"]);
      section("metrics:", Object.entries(s.metrics).sort(([a], [b]) => (a < b ? -1 : 1)).map(([metric, m]) => ({ metric, last: formatMetric(m.last), step: m.lastStep, min: formatMetric(m.min), max: formatMetric(m.max), count: m.count })), ["metric", "last", "step", "min", "max", "count"]);
      section("artifacts:", artifacts.map((a) => ({ artifact: a.key, logged: a.dt, value: eventRow(a).value })), ["artifact", "logged", "value"]);
    });

  program
    .command("runs:compare")
    .description("runs side by side: status, params and metrics (last value, with min and max)")
    .argument("<name>")
    .argument("<runs...>", "run numbers, or one of all, latest, 1,3, 2..5")
    .option("--stat <stat>", `show only this statistic of each metric: ${stats.join(", ")}`, (v: string) => {
      if (!stats.includes(v as Stat)) throw new Error(`--stat must be one of ${stats.join(", ")}`);
      return v as Stat;
    })
    .action(async (name: string, args: string[], opts: { stat?: Stat }) => {
      const o = output();
      const selection = runsArgument(args);
      // Every selected run gets a summary, also one that logged nothing; a number past the latest run is the server's NotFound.
      const summaries = await (await connect()).experiment(name).summary(selection);
      const runs = comparedRuns(selection, summaries.map((s) => s.run));
      const summarized = new Map(summaries.map((s) => [s.run, s]));
      const all = runs.map((run) => summarized.get(run)!);
      if (o.json) return printJson(o, all);
      const { rows, columns } = compareTable(runs, all, opts.stat);
      printTable(o, rows, columns);
    });
}

/** `3 5 7` → [3, 5, 7]; a single `all`, `latest`, `1,3` or `2..5` as the service takes it. */
function runsArgument(args: string[]): NonNullable<DataQuery["run"]> {
  if (args.length === 1) return parseRunSelection(args[0]!, "RUN");
  return args.map((a) => {
    if (!/^\d+$/.test(a.trim())) throw new Error(`give runs as numbers (3 5 7) or as one of all, latest, 1,3 or 2..5; got "${args.join(" ")}"`);
    return Number(a);
  });
}

import type { Command } from "commander";
import type { DataQuery, Kiln } from "@kiln/sdk";
import { writeFile } from "node:fs/promises";
import { confirm } from "./confirm.js";
import { collect } from "./key-values.js";
import { checkFilter, eventColumns, eventRow, parseRunSelection, parseStep, shortExperiment } from "./experiment-show.js";
import { checkWritable, formatOf, writeTableFile } from "./formats.js";
import { parseTime, positiveInt } from "./option-values.js";
import { printJson, printTable, type Output } from "./output.js";

type Connect = () => Promise<Kiln>;

/** Experiment tracking: experiments, experiments:show, experiments:artifact, experiments:drop (runs: runs.ts). */
export function experimentCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("experiments")
    .description("list experiments with their latest run")
    .option("--filter <expr>", 'e.g. name = "churn*" AND latest_run > 3')
    .action(async (opts: { filter?: string }) => {
      const o = output();
      const list = await (await connect()).experiments.list({ filter: opts.filter });
      if (o.json) return printJson(o, list);
      printTable(
        o,
        list.map((e) => ({ name: shortExperiment(e.name), runs: e.latestRun, created: e.createTime, deleted: e.deleteTime ? "in MLflow" : "" })),
        list.some((e) => e.deleteTime) ? ["name", "runs", "created", "deleted"] : ["name", "runs", "created"],
      );
    });

  program
    .command("experiments:show")
    .description("what runs logged, as rows (a table on a terminal; CSV with --csv; a .csv, .tsv, .json, .ndjson, .arrow or .parquet file with -o)")
    .argument("<name>")
    .option("--run <runs>", "all, latest, 3, 1,3 or 2..5", "latest")
    .option("--event <event>", "only this event, e.g. metric or param (repeatable)", collect)
    .option("--key <key>", "only this key (repeatable)", collect)
    .option("--node <node>", "only events from this node (repeatable)", collect)
    .option("--step <steps>", "one step N, or a range A..B")
    .option("--since <time>", "events at or after this time (ISO 8601 or epoch ms)", parseTime("--since"))
    .option("--until <time>", "events at or before this time (ISO 8601 or epoch ms)", parseTime("--until"))
    .option("--filter <expr>", 'more conditions, e.g. value > 0.9 OR event = "param"')
    .option("--csv", "print CSV (every column) instead of a table")
    .option("-o, --output <file>", "write the rows to a file; the format from its extension")
    .action(async (name: string, opts: ShowFlags) => {
      const o = output();
      if (opts.csv && o.json) throw new Error("--csv and --json do not go together");
      // Flags are checked before anything is asked of the server.
      const query: DataQuery = {
        run: parseRunSelection(opts.run),
        event: opts.event,
        key: opts.key,
        node: opts.node,
        step: opts.step === undefined ? undefined : parseStep(opts.step),
        since: opts.since,
        until: opts.until,
        filter: opts.filter,
      };
      checkFilter(opts.filter);
      const target = opts.output ?? (opts.csv ? "-" : undefined);
      const format = target && (formatOf(target, opts.csv ? "csv" : undefined) ?? "csv");
      if (format) checkWritable(format, target);

      const experiment = (await connect()).experiment(name);
      if (!target || !format) {
        const rows = await experiment.data(query);
        if (o.json) return printJson(o, rows);
        printTable(o, rows.map(eventRow), eventColumns);
        return;
      }
      const table = await experiment.dataTable(query);
      await writeTableFile(
        (async function* () {
          yield* table.batches;
        })(),
        target,
        format,
      );
      if (target === "-") return;
      if (o.json) return printJson(o, { rows: table.numRows, file: target });
      o.out.write(`wrote ${table.numRows} rows to ${target}\n`);
    });

  program
    .command("experiments:artifact")
    .description("an artifact a run logged: a file's bytes (to -o FILE, or stdout), or a JSON value printed")
    .argument("<name>", "the experiment")
    .argument("<artifact>", "the artifact's name, as logged")
    .option("--run <n>", "the run (default: the latest)", positiveInt)
    .option("-o, --output <file>", "write a file artifact here")
    .action(async (name: string, artifact: string, opts: { run?: number; output?: string }) => {
      const o = output();
      const value = await (await connect()).experiment(name).artifact(artifact, { run: opts.run });
      if (!(value instanceof Uint8Array)) {
        if (opts.output) await writeFile(opts.output, JSON.stringify(value, null, 2) + "\n");
        else o.out.write(JSON.stringify(value, null, 2) + "\n");
        return;
      }
      if (!opts.output) {
        await new Promise<void>((resolve, reject) => o.out.write(value, (e) => (e ? reject(e) : resolve())));
        return;
      }
      await writeFile(opts.output, value);
      if (o.json) return printJson(o, { file: opts.output, bytes: value.length });
      o.out.write(`wrote ${value.length} bytes to ${opts.output}\n`);
    });

  program
    .command("experiments:drop")
    .description("delete an experiment with all its runs and events")
    .argument("<name>")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (name: string, opts: { yes?: boolean }) => {
      const o = output();
      const kiln = await connect();
      if (!opts.yes) {
        const runs = (await kiln.experiment(name).runs()).length;
        const what = `${runs} run${runs === 1 ? "" : "s"}`;
        if (!(await confirm(`drop experiment ${name} and its ${what}?`, `pass --yes to drop experiment ${name}`))) return void o.err.write("not dropped\n");
      }
      await kiln.experiments.drop(name);
      if (o.json) return printJson(o, { name, dropped: true });
      o.out.write(`dropped ${name}\n`);
    });
}

interface ShowFlags {
  run: string;
  event?: string[];
  key?: string[];
  node?: string[];
  step?: string;
  since?: Date;
  until?: Date;
  filter?: string;
  csv?: boolean;
  output?: string;
}

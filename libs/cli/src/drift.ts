import { CommanderError, InvalidArgumentError, type Command } from "commander";
import { parseDatasetRef, selectionText, type ColumnProfile, type DatasetSpec, type DriftJobOptions, type DriftOptions, type DriftReport, type JobDriftInfo, type Kiln } from "@kiln/sdk";
import { printJson, printTable, type Output } from "./output.js";
import { columnList, positiveInt } from "./option-values.js";
import { shortModel } from "./job-show.js";
import { isLocalFile } from "./job-data.js";
import { localProfile } from "./local-profile.js";
import { compareProfiles } from "@kiln/data";

type Connect = () => Promise<Kiln>;

interface ThresholdFlags extends DriftJobOptions {
  experiment?: string;
}

/** Data drift (omega-ml's drift monitors): profiles of tables, and tables or a model's training data compared with new data. */
export function driftCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("datasets:profile")
    .description("a table's columns summarised: counts, missing values, min, median, mean, max, std, most frequent values (NAME, NAME@VERSION, or a local file such as ./sales.csv, profiled here)")
    .argument("<name>")
    .option("--columns <a,b>", "only these columns", columnList)
    .option("--filter <expr>", 'only the rows it keeps, e.g. age > 30 AND country = "DE"')
    .option("--version <n>", "a version (default: the latest)", positiveInt)
    .action(async (name: string, opts: { columns?: string[]; filter?: string; version?: number }) => {
      const o = output();
      const profile = isLocalFile(name) ? await localProfile(name, opts.columns, opts.filter) : await (await connect()).datasets.profile(spec(name, opts));
      if (o.json) return printJson(o, profile);
      o.out.write(`${selectionText(profile)}: ${profile.rows} rows\n`);
      printTable(o, profile.columns.map(profileRow), ["column", "type", "present", "missing", "distinct", "min", "median", "mean", "max", "std", "most frequent"]);
    });

  thresholdOptions(
    program
      .command("datasets:drift")
      .description("data drift: each column of TARGET compared with BASELINE (PSI, a KS or chi-squared test); NAME, NAME@VERSION or a local file (./new.csv) each")
      .argument("<baseline>")
      .argument("<target>")
      .option("--columns <a,b>", "only these columns, of both", columnList)
      .option("--filter <expr>", "the target's rows it keeps")
      .option("--baseline-filter <expr>", "the baseline's rows it keeps"),
  ).action(async (baseline: string, target: string, opts: ThresholdFlags & { columns?: string[]; filter?: string; baselineFilter?: string }) => {
    const o = output();
    const base = spec(baseline, { columns: opts.columns, filter: opts.baselineFilter });
    const compared = spec(target, opts);
    // With a local file on either side, both profiles meet here; the server is reached only for a dataset (or --experiment).
    const local = isLocalFile(baseline) || isLocalFile(target);
    const needsServer = !isLocalFile(baseline) || !isLocalFile(target) || opts.experiment !== undefined;
    const kiln = needsServer ? await connect() : undefined;
    const report = local ? await compareHere(kiln, base, compared, opts) : await kiln!.datasets.drift(base, compared, driftOptions(opts));
    await conclude(o, kiln, opts, report, sides(report));
  });

  thresholdOptions(
    program
      .command("models:drift")
      .description("a model's drift: DATA (NAME or NAME@VERSION) compared with what the version was trained on, on the features it learned")
      .argument("<model>", "NAME, NAME:VERSION or NAME:TAG")
      .argument("<data>")
      .option("--filter <expr>", "the data's rows it keeps"),
  ).action(async (model: string, data: string, opts: ThresholdFlags & { filter?: string }) => {
    const o = output();
    const kiln = await connect();
    const report = await kiln.models.drift(model, spec(data, opts), driftOptions(opts));
    await conclude(o, kiln, opts, report, `${shortModel(report.modelVersion)} trained on ${sides(report)}`);
  });

  thresholdOptions(
    program
      .command("deployments:drift")
      .description("a deployment's drift: the requests it logged on a UTC day, answered by the version it serves, compared with what that version was trained on")
      .argument("<id>")
      .option("--day <day>", "YYYY-MM-DD, today or yesterday (default today)", "today"),
  ).action(async (id: string, opts: ThresholdFlags & { day: string }) => {
    const o = output();
    const kiln = await connect();
    const report = await kiln.deployments.drift(id, { ...driftOptions(opts), day: utcDay(opts.day) });
    await conclude(o, kiln, opts, report, `${id} (${shortModel(report.modelVersion)}) trained on ${sides(report)}`);
  });
}

/** today, yesterday or a YYYY-MM-DD as is (UTC, as the request logs' days). */
function utcDay(day: string): string {
  const back = { today: 0, yesterday: 1 }[day];
  return back === undefined ? day : new Date(Date.now() - back * 86_400_000).toISOString().slice(0, 10);
}

/** --psi-threshold and --p-value-threshold: when a column counts as drifted. */
export function driftThresholdFlags(command: Command): Command {
  return command
    .option("--psi-threshold <x>", "a column drifted at this PSI or above (default 0.2)", nonNegative)
    .option("--p-value-threshold <p>", "a column also drifted when its test's p-value is below this (e.g. 0.05)", probability);
}

function thresholdOptions(command: Command): Command {
  return driftThresholdFlags(command)
    .option("--fail-on-drift", "exit status 1 when anything drifted (for scheduled checks)")
    .option("--experiment <name>", "also log the report as a run of this experiment (params, each column's PSI and p-value as metrics, drift.json)");
}

/** A run per check: the experiment's runs table is then the drift's history. */
async function logToExperiment(o: Output, kiln: Kiln | undefined, opts: ThresholdFlags, report: DriftReport): Promise<void> {
  if (!opts.experiment || !kiln) return;
  const run = await kiln.experiment(opts.experiment).run(async (r) => {
    await r.logDrift(report);
    return r.number;
  });
  o.err.write(`logged to experiment ${opts.experiment}, run ${run}\n`);
}

function driftOptions(opts: ThresholdFlags): DriftOptions {
  return { psiThreshold: opts.psiThreshold, pValueThreshold: opts.pValueThreshold };
}

/** A drift job's options from driftThresholdFlags and --fail-on-drift (runtime:drift, schedules:create). */
export function driftJobOptions(opts: DriftJobOptions): DriftJobOptions {
  return { ...driftOptions(opts), failOnDrift: opts.failOnDrift };
}

/** Two profiles, each of a local file or a dataset, compared here as the store compares them. */
async function compareHere(kiln: Kiln | undefined, baseline: DatasetSpec, target: DatasetSpec, opts: ThresholdFlags): Promise<DriftReport> {
  const profile = (ref: DatasetSpec) => (isLocalFile(ref.dataset) ? localProfile(ref.dataset, ref.columns, ref.filter) : kiln!.datasets.profile(ref));
  const [b, t] = await Promise.all([profile(baseline), profile(target)]);
  return { baseline: b, target: t, ...compareProfiles(b, t, driftOptions(opts)) };
}

/** The report printed, logged to an experiment if asked, and exit status 1 if asked and anything drifted. */
async function conclude(o: Output, kiln: Kiln | undefined, opts: ThresholdFlags, report: DriftReport, heading: string): Promise<void> {
  printDrift(o, report, heading);
  await logToExperiment(o, kiln, opts, report);
  if (opts.failOnDrift && report.drifted) throw new CommanderError(1, "kiln.drifted", "drifted");
}

/** What was compared with what: "customers@1 where … (8000 rows) → new@1 (393 rows)". */
function sides(report: DriftReport): string {
  return `${selectionText(report.baseline)} (${report.baseline.rows} rows) → ${selectionText(report.target)} (${report.target.rows} rows)`;
}

/** The same for a DRIFT job's comparison. */
export function jobDriftSides(drift: JobDriftInfo): string {
  return `${selectionText(drift.baseline)} (${drift.baselineRows} rows) → ${selectionText(drift.target)} (${drift.targetRows} rows)`;
}

/** NAME, NAME@VERSION (as the SDK reads them) or a local file's path, with the selection's flags. */
function spec(ref: string, opts: { columns?: string[]; filter?: string; version?: number }): DatasetSpec {
  const named = isLocalFile(ref) ? { dataset: ref } : parseDatasetRef(ref);
  return { ...named, ...(opts.version ? { version: opts.version } : {}), columns: opts.columns, filter: opts.filter };
}

function printDrift(o: Output, report: DriftReport, heading: string): void {
  if (o.json) return printJson(o, report);
  printDriftTable(o, report, heading);
}

/** Each column's figures, the columns missing, and what drifted, under a heading saying what was compared. */
export function printDriftTable(o: Output, report: Pick<DriftReport, "columns" | "missingColumns">, heading: string): void {
  o.out.write(`${heading}\n`);
  printTable(
    o,
    report.columns.map((c) => ({
      column: c.column,
      kind: c.kind,
      psi: c.test || c.psi ? number(c.psi) : "",
      test: c.test,
      statistic: c.test ? number(c.statistic) : "",
      "p-value": c.test ? pValue(c.pValue) : "",
      "mean shift": c.kind === "numeric" && c.test ? signed(c.meanShift) : "",
      "missing Δ": c.missingShareChange ? signed(c.missingShareChange) : "",
      "new values": c.newValues.join(", "),
      drifted: c.drifted ? "yes" : "",
      note: c.note,
    })),
    ["column", "kind", "psi", "test", "statistic", "p-value", "mean shift", "missing Δ", "new values", "drifted", "note"],
  );
  if (report.missingColumns.length) o.out.write(`missing from the target: ${report.missingColumns.join(", ")}\n`);
  const drifted = report.columns.filter((c) => c.drifted).map((c) => c.column);
  o.out.write(
    drifted.length
      ? `${drifted.length} of ${report.columns.length} columns drifted: ${drifted.join(", ")}\n`
      : report.missingColumns.length
        ? "drifted: columns are missing\n"
        : `no drift in ${report.columns.length} columns\n`,
  );
}

function profileRow(c: ColumnProfile): Record<string, unknown> {
  const numeric = c.kind === "numeric" && c.count > 0;
  const show = (x: number) => (/^(Timestamp|Date)/.test(c.type) ? new Date(x).toISOString() : number(x));
  return {
    column: c.name,
    type: c.type,
    present: c.count,
    missing: c.nulls,
    distinct: c.kind === "other" ? "" : `${c.distinct}${c.valuesComplete ? "" : "+"}`,
    min: numeric ? show(c.min) : "",
    median: numeric ? show(c.percentiles[50]!) : "",
    mean: numeric ? show(c.mean) : "",
    max: numeric ? show(c.max) : "",
    std: numeric ? number(c.std) : "",
    "most frequent": c.kind === "categorical" ? c.values.slice(0, 3).map((v) => `${v.value} (${v.count})`).join(", ") : "",
  };
}

/** Four significant digits: enough to read, short enough to line up. */
function number(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x);
}

function signed(x: number): string {
  return x > 0 ? `+${number(x)}` : number(x);
}

function pValue(p: number): string {
  return p < 1e-4 ? "<0.0001" : number(p);
}

function nonNegative(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("It takes a number of 0 or more.");
  return n;
}

function probability(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError("It takes a number between 0 and 1.");
  return n;
}

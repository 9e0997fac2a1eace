import type { Command } from "commander";
import type { DriftJobOptions, ExplainOptions, JobData, JobHandle, JobInfo, JobOptions, Kiln } from "@kiln/sdk";
import { follow, jobProgress } from "./job-progress.js";
import { resultsTarget, writeResults } from "./job-results.js";
import { formatMetric, lastSegment, shortDataset, shortModel } from "./job-show.js";
import { featuresAndTarget, jobData, submitJob } from "./job-data.js";
import { collect, parseJsonPairs } from "./key-values.js";
import { printFields, printJson, type Output } from "./output.js";
import { driftJobOptions, driftThresholdFlags, jobDriftSides, printDriftTable } from "./drift.js";
import { printExplanation } from "./explain.js";
import { columnList, positiveInt, positiveNumber, wholeNumber } from "./option-values.js";

type Connect = () => Promise<Kiln>;

/** OmegaML's runtime verbs: runtime:fit, runtime:predict, runtime:score, each a remote job. */
export function runtimeCommands(program: Command, connect: Connect, output: () => Output): void {
  jobFlags(
    program
      .command("runtime:fit")
      .description("train a model on datasets remotely; prints the new version and its training metrics")
      .argument("<model>", "NAME, NAME:VERSION or NAME:TAG")
      .argument("<x>", 'features: a dataset, "sales" or "sales@3" for version 3, or a local file such as ./sales.csv')
      .argument("[y]", "targets: a dataset or a local file (default: --target's column of X)")
      .option("--param <key=value>", "estimator param (repeatable); values that parse as JSON are JSON", collect)
      .option("--columns <a,b>", "X's feature columns (default: all but the target; with --partial, the model's)", columnList)
      .option("--target <column>", "Y's target column")
      .option("--partial", "partial fit: continue training the version instead of starting over"),
  ).action(async (model: string, x: string, y: string | undefined, opts: FitFlags) => {
    const o = output();
    const { X, Y } = inputs(x, y, opts);
    const options = { ...jobOptions(opts), params: parseJsonPairs("--param", opts.param) };
    const handle = await submitJob(await connect(), model, [x, y], (m, onUploadProgress) =>
      opts.partial ? m.partialFit(X, Y, { ...options, onUploadProgress }) : m.fit(X, Y, { ...options, onUploadProgress }),
    );
    if (!opts.wait) return printSubmitted(o, handle);
    const info = await follow(handle, jobProgress(`${opts.partial ? "partial fit" : "fit"} ${model} (job ${handle.id})`), { kiln: await connect() });
    const modelVersion = info.result?.modelVersion ?? "";
    const metrics = info.result?.metrics ?? {};
    const version = Number(/\/versions\/(\d+)$/.exec(modelVersion)?.[1] ?? 0);
    if (o.json) return printJson(o, { job: handle.id, model: shortModel(modelVersion).split(":")[0], version, modelVersion, metrics, ...reuseOf(info) });
    noteReuse(o, info);
    o.out.write(`${shortModel(modelVersion).split(":")[0]}: version ${version}, fitted by job ${handle.id}\n`);
    for (const [k, v] of Object.entries(metrics)) o.out.write(`  ${k}: ${formatMetric(v)}\n`);
  });

  jobFlags(
    program
      .command("runtime:predict")
      .description("run a model on a dataset remotely, streaming rows as they come (CSV on stdout unless -o names a .csv, .tsv, .json, .ndjson, .arrow or .parquet file)")
      .argument("<model>", "NAME, NAME:VERSION or NAME:TAG")
      .argument("<x>", 'a dataset, "sales" or "sales@3" for version 3, or a local file such as ./new.csv')
      .option("--columns <a,b>", "X's feature columns (default: the model's)", columnList)
      .option("--proba", "class probabilities (predict_proba)")
      .option("--transform", "transform instead of predict")
      .option("--keep <a,b>", "X's columns to copy into each result row before the outputs (an id, say)", columnList)
      .option("-o, --out <file>", "write rows to a file instead of stdout")
      .option("--format <format>", "csv, tsv, json, ndjson, arrow or parquet (default: from -o's extension)")
      .option("--output <dataset>", "also store the rows as a version of this dataset"),
  ).action(async (model: string, x: string, opts: PredictFlags) => {
    const o = output();
    if (opts.proba && opts.transform) throw new Error("--proba and --transform do not go together");
    const target = resultsTarget(o, opts.out, opts.format);
    const X = jobData(x, opts.columns, opts.filter);
    const handle = await submitJob(await connect(), model, [x], (m, onUploadProgress) => {
      const options = { ...jobOptions(opts), output: opts.output, keep: opts.keep, onUploadProgress };
      return opts.proba ? m.predictProba(X, options) : opts.transform ? m.transform(X, options) : m.predict(X, options);
    });
    if (!opts.wait) return printSubmitted(o, handle);
    const { rows, info } = await writeResults(handle, target, `${opts.proba ? "predict_proba" : opts.transform ? "transform" : "predict"} ${model}`, await connect());
    const wrote = info.result?.output;
    const summary = { job: handle.id, rows, file: opts.out, output: wrote && { name: shortDataset(wrote.name), version: wrote.version }, ...reuseOf(info) };
    noteReuse(o, info);
    if (target.path === "-") {
      // stdout holds the rows; the dataset written on the side is news for stderr.
      if (wrote && !o.json) o.err.write(`stored ${rows} rows as ${shortDataset(wrote.name, wrote.version)}\n`);
      return;
    }
    if (o.json) return printJson(o, summary);
    o.out.write(`wrote ${rows} rows to ${opts.out}${wrote ? ` and ${shortDataset(wrote.name, wrote.version)}` : ""} (job ${handle.id})\n`);
  });

  jobFlags(
    program
      .command("runtime:score")
      .description("score a model on features and targets remotely; prints the metrics")
      .argument("<model>", "NAME, NAME:VERSION or NAME:TAG")
      .argument("<x>", 'features: a dataset, "sales" or "sales@3" for version 3, or a local file such as ./sales.csv')
      .argument("[y]", "targets: a dataset or a local file (default: --target's column of X; a clusterer scores without)")
      .option("--columns <a,b>", "X's feature columns (default: the model's)", columnList)
      .option("--target <column>", "Y's target column")
      .option("--metric <name>", "a metric by sklearn's name (repeatable): f1, f1_macro, roc_auc, log_loss, rmse, mape…, or all (MLflow evaluate's set); default accuracy, or r2, mse and mae", collect),
  ).action(async (model: string, x: string, y: string | undefined, opts: ScoreFlags) => {
    const o = output();
    const { X, Y } = inputs(x, y, opts);
    const asked = opts.metric?.includes("all") ? "all" : opts.metric;
    const handle = await submitJob(await connect(), model, [x, y], (m, onUploadProgress) => m.score(X, Y, { ...jobOptions(opts), metrics: asked, onUploadProgress }));
    if (!opts.wait) return printSubmitted(o, handle);
    const info = await follow(handle, jobProgress(`score ${model} (job ${handle.id})`), { kiln: await connect() });
    const metrics = info.result?.metrics ?? {};
    if (o.json) return printJson(o, { job: handle.id, metrics, ...reuseOf(info) });
    noteReuse(o, info);
    printFields(o, Object.entries(metrics).map(([k, v]) => [k, formatMetric(v)]));
  });

  driftThresholdFlags(
    jobFlags(
      program
        .command("runtime:drift")
        .description("a model's drift as a job (what a schedule runs, kept with the jobs): X compared with what the version was trained on, on the features it learned, as models:drift")
        .argument("<model>", "NAME, NAME:VERSION or NAME:TAG")
        .argument("<x>", 'the data: a dataset, "sales" or "sales@3" for version 3, or a local file such as ./new.csv'),
    ),
  )
    .option("--fail-on-drift", "drift fails the job (DATA_DRIFT), so the exit status is 1")
    .action(async (model: string, x: string, opts: DriftFlags) => {
      const o = output();
      const X = jobData(x, undefined, opts.filter);
      const options = { ...jobOptions(opts), ...driftJobOptions(opts) };
      const handle = await submitJob(await connect(), model, [x], (m, onUploadProgress) => m.drift(X, { ...options, onUploadProgress }));
      if (!opts.wait) return printSubmitted(o, handle);
      const info = await follow(handle, jobProgress(`drift ${model} (job ${handle.id})`), { kiln: await connect() });
      const drift = info.result!.drift!;
      if (o.json) return printJson(o, { job: handle.id, modelVersion: info.result!.ranModelVersion, ...drift, ...reuseOf(info) });
      noteReuse(o, info);
      printDriftTable(o, drift, `${shortModel(info.result!.ranModelVersion)} trained on ${jobDriftSides(drift)}`);
    });

  jobFlags(
    program
      .command("runtime:explain")
      .description(
        "why a model gave each row of X its output: Shapley values of its features against background rows (SHAP's), streamed as rows (CSV on stdout unless -o names a file), then each feature's mean |value|",
      )
      .argument("<model>", "NAME, NAME:VERSION or NAME:TAG")
      .argument("<x>", 'the rows: a dataset, "sales" or "sales@3" for version 3, or a local file such as ./new.csv')
      .option("--background <data>", "rows standing for the usual: a dataset or a local file (default: what the version was trained on)")
      .option("--background-rows <n>", "rows sampled from the background (default 100, at most 1000)", positiveInt)
      .option("--method <method>", "auto, exact (every coalition of features, at most 16), permutation (sampled orderings) or tree (Tree SHAP, for tree ensembles; a boosted classifier's log-odds)")
      .option("--permutations <n>", "orderings sampled a row, each walked both ways (default 10)", positiveInt)
      .option("--random-state <n>", "seeds the background's sample and the orderings (default 0)", wholeNumber)
      .option("--class <label>", "a classifier: explain this class's probability on every row (default: each row's predicted class)")
      .option("--columns <a,b>", "X's feature columns (default: the model's)", columnList)
      .option("--keep <a,b>", "X's columns to copy into each result row before the values (an id, say)", columnList)
      .option("-o, --out <file>", "write rows to a file instead of stdout")
      .option("--format <format>", "csv, tsv, json, ndjson, arrow or parquet (default: from -o's extension)")
      .option("--output <dataset>", "also store the rows as a version of this dataset")
      .option("--summary", "print only each feature's mean |value|, not the rows"),
  ).action(async (model: string, x: string, opts: ExplainFlags) => {
    const o = output();
    const target = resultsTarget(o, opts.summary ? devNull : opts.out, opts.format ?? (opts.summary ? "csv" : undefined));
    const X = jobData(x, opts.columns, opts.filter);
    const background = opts.background === undefined ? undefined : jobData(opts.background);
    const explainOptions: ExplainOptions = { backgroundRows: opts.backgroundRows, method: opts.method as ExplainOptions["method"], permutations: opts.permutations, randomState: opts.randomState, class: opts.class };
    const handle = await submitJob(await connect(), model, [x, opts.background], (m, onUploadProgress) =>
      m.explain(X, { ...jobOptions(opts), ...explainOptions, background, output: opts.output, keep: opts.keep, onUploadProgress }),
    );
    if (!opts.wait) return printSubmitted(o, handle);
    const { rows, info } = await writeResults(handle, target, `explain ${model}`, await connect());
    const r = info.result!;
    const wrote = r.output;
    if (o.json && target.path !== "-") return printJson(o, { job: handle.id, rows, file: opts.out, output: wrote && { name: shortDataset(wrote.name), version: wrote.version }, ...r.explanation, ...reuseOf(info) });
    noteReuse(o, info);
    // With the rows on stdout, the rest is for stderr.
    const side = target.path === "-" ? { ...o, out: o.err } : o;
    if (opts.out) side.out.write(`wrote ${rows} rows to ${opts.out} (job ${handle.id})\n`);
    if (wrote) side.out.write(`stored ${rows} rows as ${shortDataset(wrote.name, wrote.version)}\n`);
    if (!o.json && r.explanation) printExplanation(side, r.explanation, `${shortModel(r.ranModelVersion)} explained on ${rows} rows`);
  });
}

/** Where --summary sends the rows it does not show. */
const devNull = process.platform === "win32" ? "NUL" : "/dev/null";

/**
 * X and Y as fit and score name them: `m sales --target price` takes the target from X and
 * leaves it out of the features. A filter picks rows of both only when they are one dataset:
 * rows of two datasets filtered apart would no longer pair up.
 */
export function inputs(x: string, y: string | undefined, opts: { columns?: string[]; target?: string; filter?: string }): { X: JobData; Y?: JobData } {
  if (y === undefined && opts.target) return featuresAndTarget(x, opts.columns, opts.target, opts.filter);
  if (opts.filter && y !== undefined) throw new Error("--filter picks rows of X with its --target column; with a Y of its own the rows would no longer pair up (put X and Y in one dataset)");
  return { X: jobData(x, opts.columns, opts.filter), Y: y === undefined ? undefined : jobData(y, opts.target ? [opts.target] : undefined) };
}

/** The flags of every job a verb runs: which rows, where it may run, how long, how often. */
export function runFlags(command: Command): Command {
  return command
    .option("--filter <expr>", `only X's rows this is true for, as datasets:get --filter (e.g. 'age > 30 AND country IN ("DE","FR")')`)
    .option("--require <label>", "run only on executors with this label (repeatable)", collect)
    .option("--timeout <seconds>", "fail the job after this long", positiveNumber)
    .option("--max-attempts <n>", "attempts before the job fails (default: the server's)", positiveInt)
    .option("--reuse", "reuse the result of an earlier job that did the same work (same model version, data, params), if what it made is still there, instead of running");
}

/** The flags every runtime verb of one job shares: runFlags, and when it runs. */
function jobFlags(command: Command): Command {
  return runFlags(command)
    .option("--after <job>", "run once this job succeeded, and fail with it if it fails (repeatable; with --no-wait, chains jobs)", collect)
    .option("--no-wait", "print the job id and return at once");
}

export function jobOptions(flags: RunFlags & { after?: string[] }): JobOptions {
  return {
    labels: flags.require,
    timeoutMs: flags.timeout === undefined ? undefined : Math.round(flags.timeout * 1000),
    maxAttempts: flags.maxAttempts,
    after: flags.after,
    reuse: flags.reuse,
  };
}

/** A job that reused another's result says so on stderr (its output is that job's), and in JSON. */
function noteReuse(o: Output, info: JobInfo): void {
  if (info.reusedFrom && !o.json) o.err.write(`reused the result of job ${lastSegment(info.reusedFrom)}: nothing ran (--reuse)\n`);
}

function reuseOf(info: JobInfo): { reusedFrom?: string } {
  return info.reusedFrom ? { reusedFrom: lastSegment(info.reusedFrom) } : {};
}

function printSubmitted(o: Output, handle: JobHandle): void {
  if (o.json) return printJson(o, { job: handle.id, name: handle.name });
  o.out.write(`${handle.id}\n`);
}




export interface RunFlags {
  filter?: string;
  require?: string[];
  timeout?: number;
  maxAttempts?: number;
  reuse?: boolean;
}

interface JobFlags extends RunFlags {
  after?: string[];
  wait: boolean;
}

interface FitFlags extends JobFlags {
  param?: string[];
  columns?: string[];
  target?: string;
  partial?: boolean;
}

interface PredictFlags extends JobFlags {
  columns?: string[];
  proba?: boolean;
  transform?: boolean;
  keep?: string[];
  out?: string;
  format?: string;
  output?: string;
}

type DriftFlags = JobFlags & DriftJobOptions;

interface ExplainFlags extends JobFlags {
  background?: string;
  backgroundRows?: number;
  method?: string;
  permutations?: number;
  randomState?: number;
  class?: string;
  columns?: string[];
  keep?: string[];
  out?: string;
  format?: string;
  output?: string;
  summary?: boolean;
}

interface ScoreFlags extends JobFlags {
  columns?: string[];
  target?: string;
  metric?: string[];
}

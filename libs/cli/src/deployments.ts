import { InvalidArgumentError, type Command } from "commander";
import { Table, type RecordBatch } from "apache-arrow";
import { AlreadyExistsError, type DeploymentInfo, type DeploymentSpec, type ExplainMethod, type Kiln } from "@kiln/sdk";
import { formatOf, readTableFile, writeTableFile } from "./formats.js";
import { resultsTarget } from "./job-results.js";
import { shortModel } from "./job-show.js";
import { collect } from "./key-values.js";
import { printFields, printJson, printTable, type Output } from "./output.js";
import { columnList, positiveInt, positiveNumber, wholeNumber } from "./option-values.js";

type Connect = () => Promise<Kiln>;

interface DeployFlags {
  canary?: number;
  replicas?: number;
  label?: string[];
  maxBatchRows?: number;
  maxBatchDelay?: number;
  /** A dataset; false: stop logging. */
  logRequests?: string | false;
  logSample?: number;
  logRetentionDays?: number;
  /** A dataset; false: back to the training data. */
  explainBackground?: string | false;
  explainBackgroundRows?: number;
  explainMethod?: string;
  maxReplicas?: number;
  minReplicas?: number;
  targetRps?: number;
  scaleDownDelay?: number;
  scaleToZero?: boolean;
  /** false: replicas stay as set. */
  autoscale?: false;
  wait: boolean;
}

interface PredictFlags {
  proba?: boolean;
  transform?: boolean;
  explain?: boolean;
  background?: string;
  backgroundRows?: number;
  method?: string;
  class?: string;
  keep?: string[];
  out?: string;
  format?: string;
}

const columns = ["id", "model", "state", "ready", "labels"];

/** Online serving: deploy, deployments, deployments:show, deployments:promote, deployments:rollback, deployments:delete, predict. */
export function deploymentCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("deploy")
    .description("serve a model online: executors keep it loaded and answer `kiln predict` in milliseconds; an existing deployment moves to the model given (a tag resolves again)")
    .argument("<id>", "the deployment's name")
    .argument("<model>", "NAME, NAME:VERSION or NAME:TAG")
    .option("--replicas <n>", "executors that keep it loaded (default 1)", positiveInt)
    .option("--label <label>", "only executors with this label serve it (repeatable)", collect)
    .option("--max-batch-rows <n>", "rows of requests run together at most (default 4096)", positiveInt)
    .option("--max-batch-delay <ms>", "how long a request may wait for others when the model is idle (default 0)", wholeNumber)
    .option("--canary <percent>", "deploy the model as a canary of the deployment's model, answering this share (0-100) of the requests; deployments:promote makes it the model", percentOption)
    .option("--log-requests <dataset>", "log the requests (features, kept columns, answers) to DATASET-YYYY-MM-DD, a dataset a UTC day, for models:drift")
    .option("--log-sample <percent>", "log this share (1-100) of the requests (default 100)", sharePercent)
    .option("--log-retention-days <n>", "keep this many days of the request log; older days' datasets are dropped (default: all)", positiveInt)
    .option("--no-log-requests", "stop logging the requests")
    .option("--explain-background <dataset>", "explanations (predict --explain) against this dataset (NAME or NAME@VERSION), sampled by each executor once it has loaded the model")
    .option("--explain-background-rows <n>", "rows sampled for explanations (default 100)", positiveInt)
    .option("--explain-method <method>", "how explanations are worked out: auto, exact, permutation or tree (as runtime:explain's --method)")
    .option("--no-explain-background", "explanations against the data the version was trained on again")
    .option("--max-replicas <n>", "scale by load up to this many replicas (KServe's maxReplicas), with --target-rps", positiveInt)
    .option("--min-replicas <n>", "scaling by load, at least this many (default 1)", positiveInt)
    .option("--target-rps <n>", "scaling by load: the requests a second one replica should answer", positiveNumber)
    .option("--scale-down-delay <s>", "scaling by load: how long the load must want fewer replicas before one goes (default 60)", wholeNumber)
    .option("--scale-to-zero", "scaling by load: no replica at all after the delay without a request; the next request wakes it (a load's wait)")
    .option("--no-autoscale", "stop scaling by load: replicas stay as they are (or as --replicas says)")
    .option("--no-wait", "return at once instead of waiting until it is ready")
    .action(async (id: string, model: string, opts: DeployFlags) => {
      const o = output();
      if ((opts.logSample ?? opts.logRetentionDays) !== undefined && typeof opts.logRequests !== "string") throw new Error("--log-sample and --log-retention-days go with --log-requests DATASET");
      const kiln = await connect();
      const settings: DeploymentSpec = { replicas: opts.replicas, labels: opts.label, maxBatchRows: opts.maxBatchRows, maxBatchDelayMs: opts.maxBatchDelay };
      const scaling = opts.maxReplicas ?? opts.minReplicas ?? opts.targetRps ?? opts.scaleDownDelay ?? opts.scaleToZero;
      if (scaling !== undefined && (opts.maxReplicas === undefined || opts.targetRps === undefined)) throw new Error("scaling by load takes --max-replicas and --target-rps (and --min-replicas, --scale-down-delay, --scale-to-zero)");
      if (opts.autoscale === false) settings.autoscaling = null;
      else if (scaling !== undefined) {
        settings.autoscaling = {
          minReplicas: opts.minReplicas,
          maxReplicas: opts.maxReplicas!,
          targetRequestsPerSecond: opts.targetRps!,
          scaleDownDelayMs: opts.scaleDownDelay === undefined ? undefined : opts.scaleDownDelay * 1000,
          scaleToZero: opts.scaleToZero,
        };
      }
      if (opts.logRequests !== undefined) settings.requestLog = opts.logRequests === false ? null : { dataset: opts.logRequests, samplePercent: opts.logSample, retentionDays: opts.logRetentionDays };
      if (opts.explainBackground === false) settings.explainer = null;
      else if ((opts.explainBackground ?? opts.explainBackgroundRows ?? opts.explainMethod) !== undefined) {
        settings.explainer = { background: opts.explainBackground, backgroundRows: opts.explainBackgroundRows, method: opts.explainMethod as ExplainMethod | undefined };
      }
      const wait = { wait: opts.wait };
      if (!o.json && opts.wait) o.err.write(`deploying ${model} as ${opts.canary === undefined ? "" : `a canary (${opts.canary}%) of `}${id}…\n`);
      const info =
        opts.canary === undefined
          ? await kiln.deployments.create(id, { model, canary: null, ...settings }, wait).catch((e: unknown) => {
              if (!(e instanceof AlreadyExistsError)) throw e;
              return kiln.deployments.update(id, { model, canary: null, ...settings }, wait);
            })
          : await kiln.deployments.update(id, { canary: { model, percent: opts.canary }, ...settings }, wait);
      printDeployed(o, info);
    });

  program
    .command("deployments:promote")
    .description("make a deployment's canary its model, taking all the requests (the executors answer throughout)")
    .argument("<id>")
    .option("--no-wait", "return at once instead of waiting until it is ready")
    .action(async (id: string, opts: { wait: boolean }) => {
      const o = output();
      const info = await (await connect()).deployments.promote(id, { wait: opts.wait });
      printDeployed(o, info);
    });

  program
    .command("deployments:rollback")
    .description("drop a deployment's canary: its model takes all the requests again")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const info = await (await connect()).deployments.update(id, { canary: null });
      printDeployed(o, info);
    });

  program
    .command("deployments")
    .description("deployments and their state")
    .action(async () => {
      const o = output();
      const all = await (await connect()).deployments.list();
      if (o.json) return printJson(o, all);
      printTable(o, all.map(row), columns);
    });

  program
    .command("deployments:show")
    .description("a deployment: model version, replicas, the executors serving it, batching, and why it failed")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const info = await (await connect()).deployments.get(id);
      if (o.json) return printJson(o, info);
      printFields(o, [
        ["name", info.name],
        ["model", `${shortModel(info.modelVersion)} (as asked: ${shortModel(info.model)})`],
        ...(info.canary ? ([["canary", `${shortModel(info.canary.modelVersion)} (as asked: ${shortModel(info.canary.model)}), ${info.canary.percent}% of the requests`]] as [string, unknown][]) : []),
        ["state", info.state],
        ["replicas", `${info.readyReplicas} of ${info.replicas} ready`],
        ...(info.autoscaling ? ([["autoscaling", `${autoscalingText(info.autoscaling)}; now ${formatRate(info.requestsPerSecond)} requests a second`]] as [string, unknown][]) : []),
        ["executors", info.executors.join(", ")],
        ["labels", info.requiredLabels.join(", ")],
        ["batching", `up to ${info.maxBatchRows} rows, waiting up to ${info.maxBatchDelayMs} ms`],
        ["answered", `${info.stats.requests} requests, ${info.stats.rows} rows in ${info.stats.runs} model runs, ${info.stats.failures} failed`],
        ["latency", `p50 ${info.stats.latencyP50Ms.toFixed(2)} ms, p99 ${info.stats.latencyP99Ms.toFixed(2)} ms on the executor`],
        ...(info.requestLog
          ? ([["request log", `${info.requestLog.dataset}-YYYY-MM-DD, ${info.requestLog.samplePercent}% of the requests${info.requestLog.retentionDays ? `, ${info.requestLog.retentionDays} days kept` : ""}: ${info.stats.loggedRows} rows logged, ${info.stats.unloggedRows} dropped`]] as [string, unknown][])
          : []),
        ...(info.explainer ? ([["explainer", explainerText(info.explainer)]] as [string, unknown][]) : []),
        ...(info.error ? ([["error", `${info.error.message} (${info.error.reason})`]] as [string, unknown][]) : []),
        ["created", info.creator ? `${info.createTime?.toISOString() ?? ""} by ${info.creator}` : info.createTime],
        ["updated", info.updater ? `${info.updateTime?.toISOString() ?? ""} by ${info.updater}` : info.updateTime],
      ]);
    });

  program
    .command("deployments:delete")
    .description("stop serving a deployment")
    .argument("<id...>")
    .action(async (ids: string[]) => {
      const o = output();
      const kiln = await connect();
      for (const id of ids) {
        await kiln.deployments.delete(id);
        if (!o.json) o.out.write(`deleted deployment ${id}\n`);
      }
      if (o.json) printJson(o, { deleted: ids });
    });

  program
    .command("predict")
    .description("predict rows with a deployment: JSON rows ('[{\"x\": 1}]', or rows of numbers) or a table file (./rows.csv); CSV on stdout unless -o names a file")
    .argument("<id>", "the deployment")
    .argument("<rows>", "JSON, a table file (a path with a \"/\"), or - for JSON on stdin")
    .option("--proba", "class probabilities (predict_proba)")
    .option("--transform", "transform instead of predict")
    .option("--explain", "each row's Shapley values instead (prediction or class and probability, base_value, shap_<feature>), as runtime:explain's rows")
    .option("--background <dataset>", "--explain: sample the background from this dataset (NAME or NAME@VERSION; default: what the version was trained on)")
    .option("--background-rows <n>", "--explain: rows sampled from the background (default 100)", positiveInt)
    .option("--method <method>", "--explain: auto, exact, permutation or tree (as runtime:explain's)")
    .option("--class <label>", "--explain: this class's probability on every row (default: each row's predicted class)")
    .option("--keep <a,b>", "input columns to copy into each result row before the outputs", columnList)
    .option("-o, --out <file>", "write rows to a file instead of stdout")
    .option("--format <format>", "csv, tsv, json, ndjson, arrow or parquet (default: from -o's extension)")
    .action(async (id: string, rows: string, opts: PredictFlags) => {
      const o = output();
      if ([opts.proba, opts.transform, opts.explain].filter(Boolean).length > 1) throw new Error("--proba, --transform and --explain do not go together");
      if (!opts.explain && (opts.background ?? opts.backgroundRows ?? opts.method ?? opts.class) !== undefined) throw new Error("--background, --background-rows, --method and --class go with --explain");
      const target = resultsTarget(o, opts.out, opts.format);
      const X = await readRows(rows);
      const deployments = (await connect()).deployments;
      const options = { keep: opts.keep };
      const out = opts.explain
        ? await deployments.explain(id, X, { ...options, background: opts.background, backgroundRows: opts.backgroundRows, method: opts.method as ExplainMethod | undefined, class: opts.class })
        : opts.proba
          ? await deployments.predictProba(id, X, options)
          : opts.transform
            ? await deployments.transform(id, X, options)
            : await deployments.predict(id, X, options);
      await writeTableFile(batchesOf(out), target.path, target.format);
      if (target.path !== "-" && !o.json) o.out.write(`wrote ${out.numRows} rows to ${target.path}\n`);
    });
}

function formatRate(rate: number): string {
  // Decided on the rounded figure, so 9.96 shows as "10", not "10.0".
  return Number(rate.toFixed(1)) >= 10 ? rate.toFixed(0) : rate.toFixed(1);
}

/** "1 to 4 replicas, one for each 50 requests a second; one goes after 60 s of less". */
function autoscalingText(a: NonNullable<DeploymentInfo["autoscaling"]>): string {
  const floor = a.scaleToZero ? `${a.minReplicas} to ${a.maxReplicas} replicas while there are requests, none without` : `${a.minReplicas} to ${a.maxReplicas} replicas`;
  return `${floor}, one for each ${a.targetRequestsPerSecond} requests a second; one goes after ${a.scaleDownDelayMs / 1000} s of less`;
}

/** "100 rows of customers@3, permutation": what explanations are against, and how. */
function explainerText(e: NonNullable<DeploymentInfo["explainer"]>): string {
  const how = [e.method, e.permutations && `${e.permutations} orderings a row`].filter(Boolean).join(", ");
  return `${e.backgroundRows ?? 100} rows of ${e.background ?? "the data the version was trained on"}${how ? `, ${how}` : ""}`;
}

function row(d: DeploymentInfo): Record<string, unknown> {
  return { id: d.id, model: modelsOf(d), state: d.state, ready: `${d.readyReplicas}/${d.replicas}`, labels: d.requiredLabels.join(",") };
}

/** "churn: churn:4 ready (1 of 1 replicas)", or the deployment as JSON. */
function printDeployed(o: Output, info: DeploymentInfo): void {
  if (o.json) return printJson(o, info);
  o.out.write(`${info.id}: ${modelsOf(info)} ${info.state} (${info.readyReplicas} of ${info.replicas} replicas)\n`);
}

/** "churn:4", or with a canary "churn:4 + churn:5 (10%)". */
function modelsOf(d: DeploymentInfo): string {
  const model = shortModel(d.modelVersion);
  return d.canary ? `${model} + ${shortModel(d.canary.modelVersion)} (${d.canary.percent}%)` : model;
}

function percentOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new InvalidArgumentError("It takes a whole number from 0 to 100.");
  return n;
}

function sharePercent(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n <= 100)) throw new InvalidArgumentError("It takes a share of the requests above 0 and up to 100.");
  return n;
}

/** The rows to predict: inline JSON, JSON on stdin, or a table file. */
export async function readRows(arg: string): Promise<unknown> {
  if (arg === "-") return parseJson(await readStdin(), "stdin");
  if (/^\s*[[{]/.test(arg)) return parseJson(arg, "the rows");
  if (!arg.includes("/")) throw new Error(`"${arg}": rows are JSON ('[{"x": 1}]'), a file path with a "/" (./${arg}), or - for stdin`);
  const format = formatOf(arg);
  if (!format) throw new Error(`${arg}: cannot tell its format from the extension (.csv, .tsv, .json, .ndjson, .arrow, .parquet)`);
  const batches: RecordBatch[] = [];
  for await (const batch of readTableFile(arg, format)) batches.push(batch);
  return new Table(batches);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} are not JSON: ${(e as Error).message}`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function* batchesOf(table: Table): AsyncGenerator<RecordBatch> {
  yield* table.batches;
}

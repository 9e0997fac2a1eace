import type { Command } from "commander";
import { paramGrid, type GridCandidate, type Kiln } from "@kiln/sdk";
import { clip, formatMetric, shortModel } from "./job-show.js";
import { collect, jsonOrString, parseJsonPairs } from "./key-values.js";
import { printJson, printTable, type Output } from "./output.js";
import { columnList } from "./option-values.js";
import { countBar } from "./progress.js";
import { inputs, jobOptions, runFlags, type RunFlags } from "./runtime.js";

type Connect = () => Promise<Kiln>;

interface GridFlags extends RunFlags {
  grid?: string[];
  param?: string[];
  columns?: string[];
  target?: string;
  scoreX?: string;
  scoreY?: string;
  metric?: string;
  lowerIsBetter?: boolean;
}

/** An error in the table is cut short; --json has it whole. */
const ERROR_WIDTH = 80;

/** `runtime:gridsearch`: omega-ml's gridsearch, a fit per combination of params, each scored and ranked. */
export function gridSearchCommand(program: Command, connect: Connect, output: () => Output): void {
  runFlags(
    program
      .command("runtime:gridsearch")
      .description("fit a model once per combination of --grid params (each a new version), score each fit and rank them; prints the best version")
      .argument("<model>", "NAME, NAME:VERSION or NAME:TAG: the version each fit starts from")
      .argument("<x>", "features: a dataset (put a local file with datasets:put first)")
      .argument("[y]", "targets: a dataset (default: --target's column of X)")
      .option("--grid <param=v1,v2,...>", "values to try for an estimator param (repeatable; values that parse as JSON are JSON)", collect)
      .option("--param <key=value>", "a param every fit takes (repeatable)", collect)
      .option("--columns <a,b>", "X's feature columns (default: all but the target)", columnList)
      .option("--target <column>", "Y's target column")
      .option("--score-x <dataset>", "held-out features to score each fit on (default: X)")
      .option("--score-y <dataset>", "held-out targets (default: --target's column of --score-x)")
      .option("--metric <name>", "the score metric to rank by (default: accuracy, or r2)")
      .option("--lower-is-better", "rank the lowest first (the default for mse, mae and inertia)"),
  ).action(async (model: string, x: string, y: string | undefined, opts: GridFlags) => {
    const o = output();
    const grid = gridOf(opts.grid);
    if (opts.scoreY && !opts.scoreX) throw new Error("--score-y goes with --score-x");
    const { X, Y } = inputs(x, y, opts);
    const held = opts.scoreX ? inputs(opts.scoreX, opts.scoreY, { columns: opts.columns, target: opts.target }) : undefined;
    const bar = countBar(`grid search ${model}`, "fits scored", paramGrid(grid).length);
    const search = await (await connect()).runtime
      .model(model)
      .gridSearch(X, Y, {
        ...jobOptions(opts),
        grid,
        params: parseJsonPairs("--param", opts.param),
        scoreOn: held && [held.X, held.Y],
        metric: opts.metric,
        lowerIsBetter: opts.lowerIsBetter,
        onProgress: bar.update,
      })
      .finally(bar.done);
    const value = (c: GridCandidate) => c.metrics?.[search.metric];
    const { ranked } = search;
    if (o.json) {
      return printJson(o, {
        metric: search.metric,
        lowerIsBetter: search.lowerIsBetter,
        best: { modelVersion: search.best.modelVersion, params: search.best.params, metrics: search.best.metrics },
        candidates: ranked.map((c) => ({ params: c.params, modelVersion: c.modelVersion, metrics: c.metrics, error: c.error?.message, fitJob: c.fit.id, scoreJob: c.score.id })),
      });
    }
    const names = Object.keys(grid);
    printTable(
      o,
      ranked.map((c, i) => ({
        "#": value(c) === undefined ? "-" : i + 1,
        version: c.modelVersion ? shortModel(c.modelVersion) : "-",
        ...Object.fromEntries(names.map((name) => [name, JSON.stringify(c.params[name])])),
        [search.metric]: value(c) === undefined ? "-" : formatMetric(value(c)!),
        error: clip(c.error?.message ?? "", ERROR_WIDTH),
      })),
      ["#", "version", ...names, search.metric, "error"],
    );
    const params = names.map((name) => `${name}=${JSON.stringify(search.best.params[name])}`).join(" ");
    o.out.write(`best: ${shortModel(search.best.modelVersion)} (${params}), ${search.metric} ${formatMetric(search.best.metrics[search.metric]!)}\n`);
  });
}

/** `--grid C=0.1,1,10` (repeatable) → { C: [0.1, 1, 10] }. */
function gridOf(flags: string[] | undefined): Record<string, unknown[]> {
  if (!flags?.length) throw new Error("a grid search needs at least one --grid param=v1,v2,...");
  const grid: Record<string, unknown[]> = {};
  for (const flag of flags) {
    const eq = flag.indexOf("=");
    if (eq < 1 || eq === flag.length - 1) throw new Error(`--grid takes param=v1,v2,..., got "${flag}"`);
    grid[flag.slice(0, eq)] = flag.slice(eq + 1).split(",").map(jsonOrString);
  }
  return grid;
}

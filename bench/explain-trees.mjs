// Tree SHAP: an EXPLAIN job with method "tree" on a random forest (100 trees, depth 8) or a
// boosted regressor, against two baselines in the same run:
//  - the same job with method "exact" (every coalition of the features run through
//    onnxruntime against every background row) on the first --exact-rows rows: the values
//    must agree, and the ratio is how much faster Tree SHAP gives them. Over 16 features,
//    where exact stops, method "permutation" (10 orderings a row, each both ways) instead:
//    then the difference is the sampling's error;
//  - treeShap (@kiln/onnx) called in this process on one thread: what the job (submit,
//    reads, the worker pool's two threads, rows streamed back) adds to the algorithm.
// Usage: node bench/explain-trees.mjs [--rows 1000] [--exact-rows 50] [--features 8] [--rounds 3] [--model forest|boosted]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { GradientBoostingRegressor, RandomForestRegressor } from "@kiln/ml";
import { readTreeEnsemble, treeShap } from "@kiln/onnx";
import { arg, bestMs, countArgs, startKiln } from "./lib.mjs";

const { rows, rounds } = countArgs({ rows: 1000, rounds: 3 });
const exactRows = Number(arg("exact-rows", "50"));
const features = Number(arg("features", "8"));
const modelKind = arg("model", "forest");
const BACKGROUND = 100;

const column = (n, j, offset) => Float64Array.from({ length: n }, (_, i) => Math.sin((i + offset) * (j + 1) * 0.37) * (j + 1));
const columns = (n, offset) => Object.fromEntries(Array.from({ length: features }, (_, j) => [`f${j}`, column(n, j, offset)]));
const rowMajor = (cols, n) => {
  const out = new Float64Array(n * features);
  for (let i = 0; i < n; i++) for (let j = 0; j < features; j++) out[i * features + j] = Math.fround(cols[`f${j}`][i]);
  return out;
};

const training = columns(2000, 5000);
const trainingRows = Array.from({ length: 2000 }, (_, i) => Array.from({ length: features }, (_, j) => training[`f${j}`][i]));
const target = trainingRows.map((r) => r.reduce((s, v, j) => s + (j % 2 ? v * v : v) / (j + 1), 0) + (r[0] > 0 && r[1] > 0 ? 2 : 0));
const estimator =
  modelKind === "forest"
    ? new RandomForestRegressor({ nEstimators: 100, maxDepth: 8, randomState: 0 })
    : new GradientBoostingRegressor({ maxIter: 100, maxDepth: 6, randomState: 0 });
const model = estimator.fit(trainingRows, target);
const x = columns(rows, 0);
const background = columns(BACKGROUND, 100_000);

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-explain-trees-"));
const { child, url } = await startKiln({ KILN_DATA_DIR: join(dir, "data") });
const kiln = await Kiln.connect(url);
try {
  await kiln.datasets.put("trees-x", tableFromArrays(x));
  await kiln.datasets.put("trees-x-head", tableFromArrays(columns(exactRows, 0)));
  await kiln.datasets.put("trees-background", tableFromArrays(background));
  const name = `bench-${modelKind}`;
  await kiln.models.put(name, model);
  const options = { background: "trees-background", backgroundRows: BACKGROUND };

  const reading = readTreeEnsemble(model.toOnnx(), "X", "variable");
  const nodes = reading.ensemble.feature.length;
  let local;
  const inProcessMs = await bestMs(rounds, async () => {
    local = treeShap(reading.ensemble, rowMajor(x, rows), rows, rowMajor(background, BACKGROUND), features);
  });

  let tree;
  const treeMs = await bestMs(rounds, async () => {
    tree = await (await kiln.runtime.model(name).explain("trees-x", { ...options, method: "tree" })).get();
  });
  const baseline = features <= 16 ? "exact" : "permutation";
  let exact;
  const exactMs = await bestMs(1, async () => {
    exact = await (await kiln.runtime.model(name).explain("trees-x-head", { ...options, method: baseline })).get();
  });

  let vsExact = 0;
  let vsLocal = 0;
  let largest = 0;
  for (let j = 0; j < features; j++) {
    const byTree = tree.rows.getChild(`shap_f${j}`).toArray();
    const byExact = exact.rows.getChild(`shap_f${j}`).toArray();
    for (let i = 0; i < exact.rows.numRows; i++) vsExact = Math.max(vsExact, Math.abs(byTree[i] - byExact[i]));
    for (let i = 0; i < rows; i++) {
      vsLocal = Math.max(vsLocal, Math.abs(byTree[i] - local.values[i * features + j]));
      largest = Math.max(largest, Math.abs(byTree[i]));
    }
  }
  const perRow = (ms, n) => ms / n;
  const coalitions = baseline === "exact" ? 2 ** features - 2 : 2 * 10 * (features - 1);
  console.log(`${modelKind}: ${reading.ensemble.roots.length} trees, ${nodes} nodes; ${features} features, ${BACKGROUND} background rows; best of ${rounds}`);
  console.log(`kiln EXPLAIN, tree    ${rows} rows   ${treeMs.toFixed(0)} ms  ${perRow(treeMs, rows).toFixed(3)} ms a row`);
  console.log(`kiln EXPLAIN, ${baseline}   ${exact.rows.numRows} rows   ${exactMs.toFixed(0)} ms  ${perRow(exactMs, exact.rows.numRows).toFixed(3)} ms a row (${coalitions} coalitions × ${BACKGROUND} = ${coalitions * BACKGROUND} model rows a row)`);
  console.log(`treeShap in-process, one thread   ${rows} rows   ${inProcessMs.toFixed(0)} ms`);
  console.log(`ratio ${baseline} / tree, a row: ${(perRow(exactMs, exact.rows.numRows) / perRow(treeMs, rows)).toFixed(1)}x`);
  console.log(`ratio in-process / kiln (tree): ${(inProcessMs / treeMs).toFixed(3)}`);
  console.log(`largest |tree − ${baseline}|: ${vsExact.toExponential(2)} (largest |value| ${largest.toFixed(3)}); largest |job − in-process|: ${vsLocal.toExponential(2)}`);
  kiln.close();
} finally {
  child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}

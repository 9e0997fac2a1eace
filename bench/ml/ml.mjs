// Kiln's estimators against scikit-learn on the same data and splits: fit time ratio,
// test score of each, and ONNX prediction throughput against the TypeScript predict.
// Usage: node bench/ml/ml.mjs [--quick] [--only Kind,Kind]
// Needs Debian's python3 with scikit-learn (`apt-get install -y python3-sklearn`); the
// bench installs it when run as root, else says how and stops.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ml from "@kiln/ml";
import { OnnxWorkerPool } from "@kiln/onnx";

const quick = process.argv.includes("--quick");
const only = process.argv.includes("--only") ? new Set(process.argv[process.argv.indexOf("--only") + 1].split(",")) : undefined;
const PYTHON = "/usr/bin/python3"; // Debian's, where python3-sklearn installs (not pyenv's)
const bigTrees = quick ? 20 : 50;

/** Kiln params matching sklearn_side.py's estimators. */
const PARAMS = {
  LogisticRegression: { maxIter: 1000 },
  SGDClassifier: { randomState: 0 },
  DecisionTreeClassifier: { randomState: 0 },
  RandomForestClassifier: { nEstimators: bigTrees, randomState: 0 },
  GradientBoostingClassifier: { maxIter: 100, randomState: 0 },
  MLPClassifier: { maxIter: 50, randomState: 0 },
  LinearRegression: {},
  Ridge: { alpha: 1 },
  Lasso: { alpha: 0.1 },
  SGDRegressor: { randomState: 0 },
  DecisionTreeRegressor: { randomState: 0 },
  RandomForestRegressor: { nEstimators: bigTrees, randomState: 0 },
  GradientBoostingRegressor: { maxIter: 100, randomState: 0 },
  MLPRegressor: { maxIter: 50, randomState: 0 },
  KMeans: { nClusters: 8, nInit: 1, randomState: 0 },
  MiniBatchKMeans: { nClusters: 8, nInit: 1, randomState: 0 },
  PCA: { nComponents: 10 },
  StandardScaler: {},
  MinMaxScaler: {},
};

function ensureSklearn() {
  const probe = () => existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import sklearn"]).status === 0;
  if (probe()) return true;
  if (process.getuid?.() === 0) {
    console.error("installing python3-sklearn (Debian) ...");
    spawnSync("apt-get", ["install", "-y", "python3-sklearn"], { stdio: "ignore" });
  }
  if (probe()) return true;
  console.log("bench/ml skipped: scikit-learn is not available to Debian's python3. Install it with `apt-get install -y python3-sklearn` and run again.");
  return false;
}

async function matrix(dir, name, part, cols) {
  const bytes = await readFile(join(dir, `${name}.${part}.f64`));
  const data = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8).slice();
  return cols ? { data, rows: data.length / cols, cols } : data;
}

// Seeds 0..r.seeds-1 as the sklearn side chose them (k-means everywhere, every seeded
// estimator on the small sets): time summed, score averaged.
// Fits are timed as timeit does, on both sides, the median of repeats. Small sets (fits of
// milliseconds): one untimed fit, then at least 3 fits and SMALL_REPEAT_SECONDS (at most
// REPEAT_MAX); a single fit measured how far V8 had got compiling the code rather than the
// code. Large sets: fits until 3 are done or LARGE_REPEAT_SECONDS have passed (a fit of
// seconds once; the machine's minute-to-minute swings moved one fit of k-means by half).
const SMALL_BELOW_ROWS = 10_000;
const SMALL_REPEAT_SECONDS = 0.3;
const LARGE_REPEAT_SECONDS = 3;
const REPEAT_MAX = 30;

function timed(fn) {
  const start = process.hrtime.bigint();
  const result = fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

/** The seconds of one fit (fit() makes a fresh model, fits and returns it) and the last model. */
function fitSeconds(fit, small) {
  let result = small ? fit() : undefined;
  const times = [];
  const began = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - began) / 1e9;
  const more = () => (small ? times.length < 3 || (times.length < REPEAT_MAX && elapsed() < SMALL_REPEAT_SECONDS) : times.length < 3 && (times.length === 0 || elapsed() < LARGE_REPEAT_SECONDS));
  while (more()) {
    const run = timed(fit);
    times.push(run.seconds);
    result = run.result;
  }
  times.sort((a, b) => a - b);
  return { seconds: (times[(times.length - 1) >> 1] + times[times.length >> 1]) / 2, result };
}

function kilnScore(group, kind, model, test) {
  if (group === "classification") return ml.accuracyScore(Array.from(test.y), model.predict(test.X));
  if (group === "regression") return ml.r2Score(test.y, model.predict(test.X));
  if (kind.includes("KMeans")) return -inertia(model, test.X);
  if (kind === "PCA") return model.explainedVarianceRatio.reduce((a, b) => a + b, 0);
  return null;
}

function inertia(model, X) {
  const d = model.transform(X);
  let sum = 0;
  for (let r = 0; r < d.rows; r++) {
    let best = Infinity;
    for (let c = 0; c < d.cols; c++) best = Math.min(best, d.data[r * d.cols + c]);
    sum += best * best;
  }
  return sum;
}

async function throughput(pool, model, X) {
  const x32 = Float32Array.from(X.data);
  const bytes = model.toOnnx();
  await pool.run(bytes, { X: { type: "float32", dims: [X.rows, X.cols], data: x32.slice() } }); // load once
  const start = process.hrtime.bigint();
  await pool.run(bytes, { X: { type: "float32", dims: [X.rows, X.cols], data: x32 } });
  const onnx = X.rows / (Number(process.hrtime.bigint() - start) / 1e9);
  const ts = timed(() => (typeof model.predict === "function" ? model.predict(X) : model.transform(X)));
  return { onnx, ts: X.rows / ts.seconds };
}

if (ensureSklearn()) {
  const dir = await mkdtemp(join(tmpdir(), "kiln-bench-ml-"));
  const pool = new OnnxWorkerPool();
  try {
    console.error("scikit-learn side (exports the datasets, then fits) ...");
    const report = JSON.parse(execFileSync(PYTHON, [join(import.meta.dirname, "sklearn_side.py"), dir, ...(quick ? ["--quick"] : []), ...(only ? ["--only", [...only].join(",")] : [])], { maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "inherit"] }).toString());
    const meta = JSON.parse(await readFile(join(dir, "datasets.json"), "utf8"));
    const rows = [];
    for (const r of report.results) {
      if (only && !only.has(r.kind)) continue;
      const m = meta[r.dataset];
      const group = ml.estimatorKinds().includes(r.kind) ? (["KMeans", "MiniBatchKMeans", "PCA", "StandardScaler", "MinMaxScaler"].includes(r.kind) ? "unsupervised" : m.task) : undefined;
      if (!group) {
        rows.push({ ...r, missing: true });
        continue;
      }
      const train = { X: await matrix(dir, r.dataset, "X_train", m.cols), y: await matrix(dir, r.dataset, "y_train") };
      const test = { X: await matrix(dir, r.dataset, "X_test", m.cols), y: await matrix(dir, r.dataset, "y_test") };
      let model;
      const fit = { seconds: 0 };
      const scores = [];
      const labels = group === "classification" ? Array.from(train.y) : train.y;
      for (let seed = r.seeds - 1; seed >= 0; seed--) {
        const params = r.seeds > 1 ? { ...PARAMS[r.kind], randomState: seed } : (PARAMS[r.kind] ?? {});
        const run = fitSeconds(() => {
          const fresh = ml.createEstimator(r.kind, params);
          return group === "unsupervised" ? fresh.fit(train.X) : fresh.fit(train.X, labels);
        }, train.X.rows < SMALL_BELOW_ROWS);
        fit.seconds += run.seconds;
        model = run.result;
        scores.push(kilnScore(group, r.kind, model, test));
      }
      const score = scores[0] === null ? null : scores.reduce((a, b) => a + b, 0) / scores.length;
      const scoreRange = scores[0] === null ? null : [Math.min(...scores), Math.max(...scores)];
      const speed = await throughput(pool, model, test.X).catch((e) => ({ error: e.message }));
      rows.push({ ...r, kilnSeconds: fit.seconds, kilnScore: score, kilnScoreRange: scoreRange, speed });
      console.error(`kiln    ${r.dataset.padEnd(14)} ${r.kind.padEnd(28)} ${fit.seconds.toFixed(3).padStart(8)}s`);
    }
    printTable(report.sklearn, rows);
  } finally {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function printTable(version, rows) {
  const f = (x, d = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
  console.log(`\nscikit-learn ${version}; fit ratio = Kiln / sklearn (target ≤ 2 for linear, logistic, tree, forest, k-means, PCA); score: accuracy (classifiers), R² (regressors), -inertia (k-means), explained variance (PCA)`);
  console.log("small sets: median of repeated fits; seeds > 1: fit s summed over the seeds, score their mean (min..max)");
  console.log(["dataset", "estimator", "seeds", "kiln fit s", "sklearn fit s", "fit ratio", "kiln score", "sklearn score", "Δ score", "kiln range", "sklearn range", "ONNX rows/s", "TS rows/s"].join(" | "));
  for (const r of rows) {
    if (r.missing) {
      console.log([r.dataset, r.kind, "not in Kiln yet"].join(" | "));
      continue;
    }
    const delta = r.kilnScore === null || r.score === null ? null : r.kilnScore - r.score;
    const speed = r.speed.error ? [`error: ${r.speed.error.slice(0, 40)}`, "–"] : [Math.round(r.speed.onnx).toLocaleString(), Math.round(r.speed.ts).toLocaleString()];
    const range = (x) => (x && r.seeds > 1 ? `${f(x[0], 4)}..${f(x[1], 4)}` : "–");
    console.log([r.dataset, r.kind, r.seeds, f(r.kilnSeconds), f(r.fit_seconds), f(r.kilnSeconds / r.fit_seconds, 2), f(r.kilnScore, 4), f(r.score, 4), f(delta, 4), range(r.kilnScoreRange), range(r.score_range), ...speed].join(" | "));
  }
}

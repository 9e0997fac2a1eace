// Explanations: an EXPLAIN job (Shapley values of every row of X against 100 background rows,
// exact over the 2^4 coalitions of 4 features: 1,400 model rows a row) against the same
// ShapleyExplainer run in this process on onnxruntime-node directly, on the same rows and
// background: what the job (submit, reads, the ONNX worker pool, rows streamed back) costs
// on top of the model runs. Also how far the job's values are from the in-process ones
// (float32 model inputs both ways), and, for the linear model, from the closed form
// w_j · (x_j − mean of the background's x_j).
// Usage: node bench/explain.mjs [--rows 1000] [--rounds 3] [--model linear|mlp]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { Kiln } from "@kiln/sdk";
import { ShapleyExplainer } from "@kiln/ml";
import { arg, bestMs, countArgs, startKiln } from "./lib.mjs";
import { FEATURES, featureColumns, fittedModel } from "./runtime/rows.mjs";

const { rows, rounds } = countArgs({ rows: 1000, rounds: 3 });
const modelKind = arg("model", "linear");
const BACKGROUND = 100;

const all = featureColumns(rows + BACKGROUND);
const slice = (from, to) => Object.fromEntries(Object.entries(all).map(([k, c]) => [k, c.slice(from, to)]));
const x = slice(0, rows);
const background = slice(rows, rows + BACKGROUND);
const model = fittedModel(modelKind, all);
const rowMajor = (columns) => {
  const n = columns.f0.length;
  const out = new Float64Array(n * FEATURES);
  for (let i = 0; i < n; i++) for (let j = 0; j < FEATURES; j++) out[i * FEATURES + j] = columns[`f${j}`][i];
  return out;
};

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-explain-"));
const { child, url } = await startKiln({ KILN_DATA_DIR: join(dir, "data") });
const kiln = await Kiln.connect(url);
try {
  await kiln.datasets.put("explain-x", tableFromArrays(x));
  await kiln.datasets.put("explain-background", tableFromArrays(background));
  await kiln.models.put(`bench-${modelKind}`, model);

  const session = await InferenceSession.create(model.toOnnx());
  const direct = async (matrix, count) => {
    const out = await session.run({ X: new Tensor("float32", Float32Array.from(matrix), [count, FEATURES]) });
    return Float64Array.from(Object.values(out)[0].data);
  };
  let inProcess;
  const inProcessMs = await bestMs(rounds, async () => {
    inProcess = await new ShapleyExplainer(direct, rowMajor(background), FEATURES, { maxBatchRows: 65_536 }).explain(rowMajor(x), rows);
  });

  let job;
  const kilnMs = await bestMs(rounds, async () => {
    job = await (await kiln.runtime.model(`bench-${modelKind}`).explain("explain-x", { background: "explain-background", backgroundRows: BACKGROUND })).get();
  });

  let vsInProcess = 0;
  for (let j = 0; j < FEATURES; j++) {
    const values = job.rows.getChild(`shap_f${j}`).toArray();
    for (let i = 0; i < rows; i++) vsInProcess = Math.max(vsInProcess, Math.abs(values[i] - inProcess.values[i * FEATURES + j]));
  }
  const modelRows = rows * (2 ** FEATURES - 2) * BACKGROUND;
  console.log(`${rows} rows × ${FEATURES} features, ${modelKind} model, ${BACKGROUND} background rows, ${job.method}: ${(modelRows / 1e6).toFixed(2)} M model rows; best of ${rounds}`);
  console.log(`kiln EXPLAIN job (submit → every row back)   ${kilnMs.toFixed(0)} ms  ${((rows / kilnMs) * 1000).toFixed(0)} rows/s, ${(modelRows / kilnMs / 1000).toFixed(2)} M model rows/s`);
  console.log(`ShapleyExplainer on onnxruntime in-process   ${inProcessMs.toFixed(0)} ms  ${((rows / inProcessMs) * 1000).toFixed(0)} rows/s`);
  console.log(`ratio in-process / kiln: ${(inProcessMs / kilnMs).toFixed(3)}`);
  console.log(`largest |difference| from the in-process values: ${vsInProcess.toExponential(2)}`);
  if (modelKind === "linear") {
    const w = model.coef;
    const mean = Array.from({ length: FEATURES }, (_, j) => background[`f${j}`].reduce((s, v) => s + v, 0) / BACKGROUND);
    let vsClosedForm = 0;
    for (let j = 0; j < FEATURES; j++) {
      const values = job.rows.getChild(`shap_f${j}`).toArray();
      for (let i = 0; i < rows; i++) vsClosedForm = Math.max(vsClosedForm, Math.abs(values[i] - w[j] * (x[`f${j}`][i] - mean[j])));
    }
    console.log(`largest |difference| from w_j · (x_j − background mean): ${vsClosedForm.toExponential(2)}`);
  }
  kiln.close();
} finally {
  child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}

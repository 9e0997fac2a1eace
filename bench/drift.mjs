// Drift: the store profiling a table server-side (one pass, kept per version) against the
// plain read of the same rows to a client, which any client-side profile would need first;
// a kept profile asked again; a comparison of two kept profiles; and the KS statistic Kiln
// estimates from profiles against the exact one over every value, on a column that moved
// by a tenth of a standard deviation and one that did not. Then a model's drift as a DRIFT
// job (submit, an executor asks the store, the result stored and read back) against the
// same check in the call (models.drift), both on kept profiles: what the job costs on top.
// Usage: node bench/drift.mjs [--rows 1000000] [--target 200000] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { linearRegressorOnnx } from "@kiln/onnx";
import { bestMs, countArgs, startKiln } from "./lib.mjs";

const { rows, target: targetRows, rounds } = countArgs({ rows: 1_000_000, target: 200_000, rounds: 3 });

/** mulberry32 normals (Box-Muller): the same data every run. */
function normals(n, mean, seed) {
  let s = seed >>> 0;
  const u = () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Float64Array.from({ length: n }, () => mean + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

const REGIONS = ["north", "south", "east", "west", "center"];
const table = (n, shift, seed) =>
  tableFromArrays({
    f0: normals(n, shift, seed),
    f1: normals(n, 0, seed + 1),
    f2: normals(n, 0, seed + 2),
    f3: normals(n, 0, seed + 3),
    region: Array.from({ length: n }, (_, i) => REGIONS[(i * 7919) % REGIONS.length]),
  });

/** The exact two-sample KS statistic over every value. */
function exactKs(a, b) {
  a = a.slice().sort();
  b = b.slice().sort();
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < a.length && j < b.length) {
    const x = Math.min(a[i], b[j]);
    while (i < a.length && a[i] <= x) i++;
    while (j < b.length && b[j] <= x) j++;
    d = Math.max(d, Math.abs(i / a.length - j / b.length));
  }
  return d;
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-drift-"));
const { child, url } = await startKiln({ KILN_DATA_DIR: join(dir, "data") });
const kiln = await Kiln.connect(url);
try {
  const base = table(rows, 0, 1);
  const later = table(targetRows, 0.1, 100);
  await kiln.datasets.put("base", base);
  await kiln.datasets.put("later", later);

  const read = await bestMs(rounds, async () => {
    let n = 0;
    for await (const batch of kiln.datasets.read("base")) n += batch.numRows;
    if (n !== rows) throw new Error(`read ${n} rows`);
  });
  // Each round profiles a version never profiled: the same rows written again.
  let cold = Infinity;
  for (let r = 0; r < rounds; r++) {
    await kiln.datasets.put("base", base, { mode: "replace" });
    const t = performance.now();
    const p = await kiln.datasets.profile("base");
    cold = Math.min(cold, performance.now() - t);
    if (p.rows !== rows) throw new Error(`profiled ${p.rows} rows`);
  }
  const kept = await bestMs(rounds, () => kiln.datasets.profile("base"));
  await kiln.datasets.profile("later");
  let report;
  const compare = await bestMs(rounds, async () => (report = await kiln.datasets.drift("base", "later")));

  // A version trained on base's four numbers (its metadata says so, as a fit's would).
  const baseVersion = (await kiln.datasets.info("base")).latest.version;
  await kiln.models.put("drifting", linearRegressorOnnx([1, 2, 3, 4], 0), {
    format: "onnx",
    metadata: { features: ["f0", "f1", "f2", "f3"], training_data: { dataset: "projects/default/datasets/base", version: baseVersion, filter: "" } },
  });
  await kiln.models.drift("drifting", "later");
  const direct = await bestMs(rounds * 3, () => kiln.models.drift("drifting", "later"));
  let asJob;
  const job = await bestMs(rounds * 3, async () => (asJob = await (await kiln.runtime.model("drifting").drift("later")).get()));
  if (asJob.columns.length !== 4) throw new Error(`the job compared ${asJob.columns.length} features`);

  console.log(`drift: ${rows.toLocaleString("en")} rows × 5 columns (4 Float64, 1 Utf8), embedded server`);
  console.log(`  read every row to the client (baseline)  ${(read / 1000).toFixed(3)} s`);
  console.log(`  profile, computed by the store           ${(cold / 1000).toFixed(3)} s   ratio to the read ${(cold / read).toFixed(2)}`);
  console.log(`  profile, kept                             ${kept.toFixed(1)} ms`);
  console.log(`  compare with ${targetRows.toLocaleString("en")} rows (profiles kept)  ${compare.toFixed(1)} ms`);
  for (const name of ["f0", "f1"]) {
    const c = report.columns.find((x) => x.column === name);
    const exact = exactKs(base.getChild(name).toArray(), later.getChild(name).toArray());
    console.log(
      `  ${name} (${name === "f0" ? "moved 0.1 std" : "unmoved"}): KS ${c.statistic.toFixed(4)} (exact ${exact.toFixed(4)}, off by ${Math.abs(c.statistic - exact).toFixed(4)}), p ${c.pValue.toPrecision(3)}, PSI ${c.psi.toFixed(4)}, mean shift ${c.meanShift.toFixed(3)}, drifted ${c.drifted}`,
    );
  }
  console.log(`  a model's drift in the call (models.drift)  ${direct.toFixed(1)} ms`);
  console.log(`  the same as a DRIFT job, submit to result  ${job.toFixed(1)} ms   ratio to the call ${(job / direct).toFixed(2)}`);
} finally {
  kiln.close();
  child.kill();
  await rm(dir, { recursive: true, force: true });
}

// A partial fit of an SGD regressor on N rows of 4 features, on embedded Kiln: the whole of
// X in one go (one partialFit call) against batch after batch in one job (params.batch_rows),
// which holds no more than a batch. Prints each one's time and how much the server's
// resident memory grew while it ran (sampled every 20 ms), and the ratios.
// Usage: node bench/runtime/batched-fit.mjs [--rows 2000000] [--batch 100000]
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { countArgs, startKiln } from "../lib.mjs";
import { FEATURES, featureColumns } from "./rows.mjs";

const { rows, batch } = countArgs({ rows: 2_000_000, batch: 100_000 });

const rssMiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;

/** Runs the job to its end; its time, and the most the server's RSS rose above where it was before. */
async function measured(pid, run) {
  const before = rssMiB(pid);
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
  const started = performance.now();
  try {
    const result = await run();
    return { seconds: (performance.now() - started) / 1000, grewMiB: peak - before, result };
  } finally {
    clearInterval(timer);
  }
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-batched-"));
const { child, url, pid } = await startKiln({ KILN_DATA_DIR: join(dir, "data") });
const kiln = await Kiln.connect(url);
try {
  const columns = featureColumns(rows);
  const y = Float64Array.from({ length: rows }, (_, i) => Array.from({ length: FEATURES }, (_, j) => columns[`f${j}`][i] * (j + 1)).reduce((a, b) => a + b, 0.5));
  await kiln.datasets.put("x", tableFromArrays(columns));
  await kiln.datasets.put("y", tableFromArrays({ y }));
  const fit = async (params) => {
    const name = `sgd-${Math.random().toString(36).slice(2, 8)}`;
    await kiln.models.create(name, { estimator: "SGDRegressor", params: { random_state: 0 } });
    return (await kiln.runtime.model(name).partialFit("x", "y", { params })).get();
  };
  await fit({ batch_rows: batch }); // warm-up: the worker thread and the data's first read
  const whole = await measured(pid, () => fit({}));
  const batched = await measured(pid, () => fit({ batch_rows: batch }));
  console.log(`partial fit of SGDRegressor on ${rows.toLocaleString("en")} rows × ${FEATURES} features:`);
  console.log(`  all at once:             ${whole.seconds.toFixed(2)} s, server RSS +${whole.grewMiB.toFixed(0)} MiB`);
  console.log(`  batches of ${batch.toLocaleString("en")} rows: ${batched.seconds.toFixed(2)} s, server RSS +${batched.grewMiB.toFixed(0)} MiB (${batched.result.metrics.rows_trained} rows)`);
  console.log(`  time batched / at once: ${(batched.seconds / whole.seconds).toFixed(2)}; memory batched / at once: ${(batched.grewMiB / Math.max(1, whole.grewMiB)).toFixed(2)}`);
} finally {
  kiln.close();
  child.kill();
  await rm(dir, { recursive: true, force: true });
}

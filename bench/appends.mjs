// Many small appends: N puts of a few rows each onto one dataset (omega-ml's
// `om.datasets.put(df, name, append=True)` a batch at a time), against the same rows put
// once. Prints each put's time early and late, then reads of the appended dataset (all of
// it, a filter) against the same reads of the dataset put once, as ratios, and the
// server's metadata file. Small chunks are merged as versions are committed, so the
// appended dataset reads as a few chunks rather than one per append.
// Usage: node bench/appends.mjs [--appends 3000] [--rows 10] [--rounds 3]
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { arg, bestMs, percentile, startKiln } from "./lib.mjs";

const appends = Number(arg("appends", "3000"));
const rowsEach = Number(arg("rows", "10"));
const rounds = Number(arg("rounds", "3"));

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-appends-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const batch = (i) => ({
  id: Array.from({ length: rowsEach }, (_, j) => i * rowsEach + j),
  v: Array.from({ length: rowsEach }, (_, j) => Math.sin(i * rowsEach + j)),
  tag: Array.from({ length: rowsEach }, (_, j) => `t${(i + j) % 7}`),
});
try {
  const kiln = await Kiln.connect(server.url);
  const putMs = [];
  for (let i = 0; i < appends; i++) {
    const t = performance.now();
    await kiln.datasets.put("appended", batch(i));
    putMs.push(performance.now() - t);
  }
  const whole = { id: [], v: [], tag: [] };
  for (let i = 0; i < appends; i++) for (const [k, values] of Object.entries(batch(i))) whole[k].push(...values);
  await kiln.datasets.put("at-once", whole);

  const tenth = Math.max(1, Math.floor(appends / 10));
  const p50 = (ms) => percentile([...ms].sort((a, b) => a - b), 50).toFixed(2);
  const readAll = (name) => async () => {
    let n = 0;
    for await (const b of kiln.datasets.read(name)) n += b.numRows;
    if (n !== appends * rowsEach) throw new Error(`read ${n} rows`);
  };
  const filtered = (name) => async () => (await kiln.datasets.get(name, { filter: "v > 0.99 AND tag = \"t3\"" })).numRows;
  const info = await kiln.datasets.info("appended");
  console.log(`${appends} appends of ${rowsEach} rows (${appends * rowsEach} rows): ${info.latest.chunkCount} chunks in the last version`);
  console.log(`put p50: first ${tenth} ${p50(putMs.slice(0, tenth))} ms, last ${tenth} ${p50(putMs.slice(-tenth))} ms`);
  for (const [what, read] of [["read all", readAll], ["filter", filtered]]) {
    const appended = await bestMs(rounds, read("appended"));
    const once = await bestMs(rounds, read("at-once"));
    console.log(`${what}: appended ${appended.toFixed(1)} ms, put at once ${once.toFixed(1)} ms, ratio at once / appended ${(once / appended).toFixed(2)}`);
  }
  const sqlite = await stat(join(dir, "kiln", "kiln.sqlite"));
  console.log(`metadata file: ${(sqlite.size / 1e6).toFixed(1)} MB`);
} finally {
  server.child.kill();
  await rm(dir, { recursive: true, force: true });
}

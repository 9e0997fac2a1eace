// Store throughput: write then read a generated table through the SDK and the real
// server, against the same Arrow bytes written straight to a file and read back.
// Usage: node bench/store.mjs [--size MB] [--rounds N]   (default 200 MB, 3 rounds)
// Each round writes and reads both ways; the best round of each counts, because these
// shared machines swing by 2x from one second to the next.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RecordBatchReader, tableFromArrays, tableToIPC } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { arg, peakRssMiB, startKiln, timed } from "./lib.mjs";

const sizeMiB = Number(arg("size", "200"));
const rounds = Number(arg("rounds", "3"));
const ROWS_PER_BATCH = 100_000; // 5 columns × 8 bytes ≈ 4 MB per batch
const batchCount = Math.ceil((sizeMiB * 1024 * 1024) / (ROWS_PER_BATCH * 40));

const features = Array.from({ length: 4 }, (_, c) => Float64Array.from({ length: ROWS_PER_BATCH }, (_, i) => Math.sin(i * (c + 1))));
/** Batch i: the same feature columns with distinct ids, so no two chunks are equal. */
function batch(i) {
  const id = new BigInt64Array(ROWS_PER_BATCH);
  for (let r = 0; r < ROWS_PER_BATCH; r++) id[r] = BigInt(i * ROWS_PER_BATCH + r);
  return tableFromArrays({ id, f0: features[0], f1: features[1], f2: features[2], f3: features[3] });
}
/** Each round's ids differ, so no round's chunks deduplicate against an earlier one. */
async function* batches(round) {
  for (let i = 0; i < batchCount; i++) yield batch(round * batchCount + i);
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-store-"));
const kilnProc = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
try {
  const kiln = await Kiln.connect(kilnProc.url);
  let bytes = 0;

  let kilnWrite, kilnRead, fileWrite, fileRead;
  const best = (a, b) => (a && a.seconds <= b.seconds ? a : b);
  for (let round = 1; round <= rounds; round++) {
    kilnWrite = best(kilnWrite, await timed(async () => {
      const v = await kiln.datasets.write(`bench-${round}`, batches(round), { onProgress: (p) => (bytes = p.bytes) });
      return v;
    }));
    kilnRead = best(kilnRead, await timed(async () => {
      let rows = 0;
      for await (const b of kiln.datasets.read(`bench-${round}`)) rows += b.numRows;
      return rows;
    }));

    const file = join(dir, "baseline.arrows");
    fileWrite = best(fileWrite, await timed(async () => {
      const out = createWriteStream(file);
      for await (const t of batches(round)) if (!out.write(tableToIPC(t, "stream"))) await once(out, "drain");
      out.end();
      await once(out, "finish");
      // Kiln acknowledges a write only once its chunks are on disk (fsync); so does the baseline.
      const handle = await open(file, "r");
      await handle.sync();
      await handle.close();
    }));
    fileRead = best(fileRead, await timed(async () => {
      let rows = 0;
      for await (const reader of RecordBatchReader.readAll(createReadStream(file, { highWaterMark: 1 << 20 }))) {
        for await (const b of reader) rows += b.numRows;
      }
      return rows;
    }));
    await rm(file);
  }

  const mb = bytes / 1e6;
  const rate = (s) => mb / s;
  const kilnRate = mb / (kilnWrite.seconds + kilnRead.seconds);
  const fileRate = mb / (fileWrite.seconds + fileRead.seconds);
  console.log(`best of ${rounds} rounds`);
  console.log(`table: ${kilnWrite.result.rowCount.toLocaleString()} rows, ${mb.toFixed(0)} MB in ${batchCount} chunks (read back ${kilnRead.result.toLocaleString()} rows, file ${fileRead.result.toLocaleString()})`);
  console.log(`kiln  write ${rate(kilnWrite.seconds).toFixed(0)} MB/s   read ${rate(kilnRead.seconds).toFixed(0)} MB/s   round trip ${kilnRate.toFixed(0)} MB/s`);
  console.log(`file  write ${rate(fileWrite.seconds).toFixed(0)} MB/s   read ${rate(fileRead.seconds).toFixed(0)} MB/s   round trip ${fileRate.toFixed(0)} MB/s`);
  console.log(`ratio kiln/file: write ${(fileWrite.seconds / kilnWrite.seconds).toFixed(2)}  read ${(fileRead.seconds / kilnRead.seconds).toFixed(2)}  round trip ${(kilnRate / fileRate).toFixed(2)} (target >= 0.5)`);
  console.log(`server peak RSS: ${peakRssMiB(kilnProc.pid).toFixed(0)} MiB (target <= 256)`);
} finally {
  kilnProc.child.kill("SIGTERM");
  await once(kilnProc.child, "exit");
  await rm(dir, { recursive: true, force: true });
}

// Reading a Parquet file into Arrow record batches (what `kiln datasets:put file.parquet`
// streams up) against hyparquet decoding the same columns on its own, to JS values (strings
// as JS strings), which the Arrow batches are built from. Prints both and the ratio.
// Usage: node bench/parquet-read.mjs [--rows 1000000]
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from "hyparquet";
import { parquetWriteBuffer } from "hyparquet-writer";
import { readParquetFile } from "../libs/cli/dist/parquet.js";
import { arg, bestMs } from "./lib.mjs";

const rows = Number(arg("rows", "1000000"));

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-parquet-"));
try {
  const path = join(dir, "customers.parquet");
  const columnData = [
    { name: "customer_id", data: Array.from({ length: rows }, (_, i) => `customer-${i}`), type: "STRING" },
    { name: "country", data: Array.from({ length: rows }, (_, i) => ["DE", "FR", "IT", "ES"][i % 4]), type: "STRING" },
    { name: "age", data: Float64Array.from({ length: rows }, (_, i) => 18 + (i % 60)), type: "DOUBLE" },
    { name: "spend", data: Float64Array.from({ length: rows }, (_, i) => (i % 1000) / 3), type: "DOUBLE" },
  ];
  await writeFile(path, new Uint8Array(parquetWriteBuffer({ columnData, rowGroupSize: 250_000 })));

  const kiln = await bestMs(3, async () => {
    let n = 0;
    for await (const batch of readParquetFile(path)) n += batch.numRows;
    if (n !== rows) throw new Error(`read ${n} rows`);
  });
  const hyparquet = await bestMs(3, async () => {
    const file = await asyncBufferFromFile(path);
    const metadata = await parquetMetadataAsync(file);
    let n = 0;
    await parquetRead({ file, metadata, onChunk: (c) => c.columnName === "age" && (n += c.columnData.length) });
    if (n !== rows) throw new Error(`read ${n} rows`);
  });
  console.log(`${rows.toLocaleString("en-US")} rows (2 string, 2 double columns): into Arrow ${kiln.toFixed(0)} ms, hyparquet's decode alone ${hyparquet.toFixed(0)} ms: ratio ${(hyparquet / kiln).toFixed(2)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

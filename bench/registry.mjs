// Registry throughput: push then download a large ONNX model through the SDK and the
// real server, against copying the same file with streams on the same disk (the
// upload's baseline syncs its copy to disk, as the registry does before accepting).
// Usage: node bench/registry.mjs [--size MB] [--rounds N]   (default 100 MB, 3 rounds)
// The best round of each counts: these shared machines swing by 2x from one second to the next.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm, stat, writeFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { OnnxGraphBuilder } from "@kiln/onnx";
import { Kiln } from "@kiln/sdk";
import { arg, peakRssMiB, startKiln, timed, timedWithCpu } from "./lib.mjs";

const sizeMiB = Number(arg("size", "100"));
const rounds = Number(arg("rounds", "3"));

/** A dense layer whose float32 weights make up the model's size: X[N, k] · W[k, k]. */
function denseModel(seed) {
  const k = Math.floor(Math.sqrt((sizeMiB * 1024 * 1024) / 4));
  const w = new Float32Array(k * k);
  for (let i = 0; i < w.length; i++) w[i] = Math.sin(i + seed);
  const g = new OnnxGraphBuilder({ opset: 17, producer: "kiln-bench" });
  g.input("X", "float32", ["N", k]);
  g.initializer("W", w, [k, k]);
  g.node("MatMul", ["X", "W"], ["Y"]);
  g.output("Y", "float32", ["N", k]);
  return g.toBytes();
}

/** A stream copy synced to disk, as Kiln's blob store syncs what it accepts. */
async function durableCopy(from, to) {
  await pipeline(createReadStream(from), createWriteStream(to));
  const handle = await open(to, "r");
  await handle.sync();
  await handle.close();
}

/**
 * Inputs are on disk before anything is timed: otherwise the kernel writes a fresh
 * input's 105 MB back while the push runs (its fsyncs wait behind that writeback), but
 * not during the copy, which comes later.
 */
async function writeSynced(path, bytes) {
  await writeFile(path, bytes);
  const handle = await open(path, "r");
  await handle.sync();
  await handle.close();
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-registry-"));
const kilnProc = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
try {
  const kiln = await Kiln.connect(kilnProc.url);
  let push, pushOpaque, pull, copyIn, copyOut;
  const pushCpu = [];
  const copyCpu = [];
  const best = (a, b) => (a && a.seconds <= b.seconds ? a : b);
  let bytes = 0;
  for (let round = 1; round <= rounds; round++) {
    const file = join(dir, `model-${round}.onnx`);
    await writeSynced(file, denseModel(round)); // distinct weights: no round deduplicates against another
    bytes = (await stat(file)).size;
    const pushed = await timedWithCpu(kilnProc.pid, () => kiln.models.put("bench", file, { comment: `round ${round}` }));
    push = best(push, pushed);
    pushCpu.push(pushed);
    // Other bytes of the same size as an opaque artifact: the transfer alone, without the
    // onnxruntime load check (the same bytes would find their chunks stored already).
    const other = join(dir, `other-${round}.bin`);
    await writeSynced(other, denseModel(-round));
    pushOpaque = best(pushOpaque, await timed(() => kiln.models.put("bench-opaque", other, { format: "opaque-bench" })));
    await rm(other);
    pull = best(pull, await timed(() => kiln.models.download(`bench:${round}`, join(dir, `down-${round}`))));
    const copy = join(dir, `copy-${round}.onnx`);
    const copied = await timedWithCpu(kilnProc.pid, () => durableCopy(file, copy));
    copyIn = best(copyIn, copied);
    copyCpu.push(copied.clientCpu);
    copyOut = best(copyOut, await timed(() => pipeline(createReadStream(copy), createWriteStream(`${copy}.back`))));
    await rm(join(dir, `down-${round}`), { recursive: true, force: true });
    await rm(copy);
    await rm(`${copy}.back`);
  }
  const mb = bytes / 1e6;
  const rate = (s) => (mb / s).toFixed(0);
  const kilnTrip = push.seconds + pull.seconds;
  const copyTrip = copyIn.seconds + copyOut.seconds;
  console.log(`best of ${rounds} rounds; model ${mb.toFixed(0)} MB (version ${push.result.version}, ${push.result.signature?.inputs?.[0]?.type ?? "?"})`);
  console.log(`kiln  push ${rate(push.seconds)} MB/s   download ${rate(pull.seconds)} MB/s   round trip ${rate(kilnTrip)} MB/s`);
  console.log(`kiln  push without the ONNX check ${rate(pushOpaque.seconds)} MB/s (ratio ${(copyIn.seconds / pushOpaque.seconds).toFixed(2)})`);
  console.log(`copy  in   ${rate(copyIn.seconds)} MB/s   out      ${rate(copyOut.seconds)} MB/s   round trip ${rate(copyTrip)} MB/s`);
  console.log(`ratio kiln/copy: push ${(copyIn.seconds / push.seconds).toFixed(2)}  download ${(copyOut.seconds / pull.seconds).toFixed(2)}  round trip ${(copyTrip / kilnTrip).toFixed(2)} (target >= 0.5)`);
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1].toFixed(2);
  console.log(`push CPU (median of ${rounds}): server ${median(pushCpu.map((p) => p.serverCpu))} s, client ${median(pushCpu.map((p) => p.clientCpu))} s; copy ${median(copyCpu)} s`);
  console.log(`server peak RSS: ${peakRssMiB(kilnProc.pid).toFixed(0)} MiB (target <= 256)`);
  kiln.close();
} finally {
  kilnProc.child.kill("SIGTERM");
  await once(kilnProc.child, "exit");
  await rm(dir, { recursive: true, force: true });
}

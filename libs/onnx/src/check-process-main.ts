// Child process entry: loads the model read from a file in onnxruntime and reports on stdout.
import { readFile } from "node:fs/promises";
import { InferenceSession } from "onnxruntime-node";

const path = process.argv[2];
try {
  const session = await InferenceSession.create(await readFile(path), { intraOpNumThreads: 1 });
  await session.release();
  process.stdout.write(JSON.stringify({ ok: true }));
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, message: (e as Error).message ?? String(e) }));
}

// Worker thread entry for rowAssigner: waits for each iteration's go, takes parts of the
// rows over shared memory like the caller's thread does, then reports done. Blocking
// waits are fine here: this thread does nothing else.
import { workerData } from "node:worker_threads";
import { runParts, slots, type WorkerSetup } from "./row-assigner.js";

const { layout, worker } = workerData as WorkerSetup;
const control = layout.control;
const { go: goAt, done: doneAt, ready } = slots(worker);
let seen = 0;
Atomics.store(control, ready, 1);
for (;;) {
  Atomics.wait(control, goAt, seen);
  const go = Atomics.load(control, goAt);
  if (go < 0) break;
  if (go === seen) continue;
  seen = go;
  try {
    runParts(layout);
    Atomics.store(control, doneAt, go);
  } catch {
    Atomics.store(control, doneAt, -1);
  }
  Atomics.notify(control, doneAt);
}

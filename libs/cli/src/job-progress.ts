import cliProgress from "cli-progress";
import type { JobHandle, JobInfo, Kiln } from "@kiln/sdk";
import { progressText } from "./job-show.js";

export interface JobDisplay {
  update(info: JobInfo): void;
  done(): void;
}

export const silent: JobDisplay = { update: () => {}, done: () => {} };

/**
 * A live line on stderr while a job runs, when stderr is a terminal: a bar when the job
 * reports how far it is (rows done of a total, or a fraction), else its state, epoch and
 * loss. Scripts and pipes get nothing: the result is what they read.
 */
export function jobProgress(label: string, stream: NodeJS.WriteStream = process.stderr): JobDisplay {
  if (!stream.isTTY) return silent;
  let bar: cliProgress.SingleBar | undefined;
  const format: cliProgress.GenericFormatter = (options, params, payload: { status: string; measured: boolean }) => {
    if (!payload.measured) return `${label} ${payload.status}`;
    const percent = Math.floor(params.progress * 100);
    return `${label} [${cliProgress.Format.BarFormat(params.progress, options)}] ${percent}% ${payload.status}`;
  };
  return {
    update(info) {
      const p = info.progress;
      // Rows give the truest bar; a bare fraction is scaled to a thousand steps.
      const [value, total] = p.rowsTotal > 0 ? [p.rowsDone, p.rowsTotal] : [Math.round(p.fraction * 1000), 1000];
      const measured = p.rowsTotal > 0 || p.fraction > 0;
      const payload = { status: [info.state, progressText(info, { fraction: !measured })].filter(Boolean).join(", "), measured };
      if (!bar) {
        bar = new cliProgress.SingleBar({ stream, format, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
        bar.start(total, value, payload);
      } else {
        bar.setTotal(total);
        bar.update(value, payload);
      }
    },
    done() {
      bar?.stop();
      bar = undefined;
    },
  };
}

/**
 * Follows a job to its end, showing each change; returns it if it succeeded and throws
 * its typed error (FailedPreconditionError, CancelledError...) if not. With `kiln`, a job
 * still queued after a few seconds that no executor can take is said so, once, on stderr.
 */
export async function follow(handle: JobHandle, display: JobDisplay, options: { onChange?: (info: JobInfo) => void; kiln?: Kiln } = {}): Promise<JobInfo> {
  const { onChange, kiln } = options;
  let last: JobInfo | undefined;
  const check = kiln && setTimeout(() => void (last?.state === "queued" && warnIfNoExecutor(kiln, last, display)), QUEUED_CHECK_MS);
  try {
    for await (const info of handle.watch()) {
      last = info;
      display.update(info);
      onChange?.(info);
    }
  } finally {
    clearTimeout(check);
    display.done();
  }
  if (last?.state === "succeeded") return last;
  // wait() throws the job's error, or waits on if the watch ended before the job did.
  return handle.wait();
}

/** How long a job may stay queued before `follow` looks for an executor that can take it. */
const QUEUED_CHECK_MS = 3_000;

async function warnIfNoExecutor(kiln: Kiln, job: JobInfo, display: JobDisplay): Promise<void> {
  if (job.waitingFor.length) return; // on no queue yet
  const executors = await kiln.runtime.executors().catch(() => undefined);
  if (!executors || executors.some((e) => job.requiredLabels.every((label) => e.labels.includes(label)))) return;
  const wanted = job.requiredLabels.length ? `no executor has the label${job.requiredLabels.length > 1 ? "s" : ""} ${job.requiredLabels.join(", ")}` : "no executor is running";
  display.done(); // the live line comes back with the next change
  process.stderr.write(`kiln: ${wanted}: job ${job.id} waits in the queue until one starts (kiln jobs:cancel ${job.id} drops it)\n`);
}

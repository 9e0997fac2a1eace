import cliProgress from "cli-progress";
import type { Progress } from "@kiln/sdk";
import { formatBytes } from "./output.js";

/** Transfers under this size finish too fast for a bar to help. */
const MIN_BYTES_FOR_BAR = 4 * 1024 * 1024;

/**
 * A progress bar on stderr for transfers over a few MB, when stderr is a terminal.
 * Returns the listener to hand to the SDK and a function that removes the bar.
 */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): { onProgress: (p: Progress) => void; done: () => void } {
  if (!stream.isTTY) return { onProgress: () => {}, done: () => {} };
  let bar: cliProgress.SingleBar | undefined;
  return {
    onProgress(p) {
      const total = p.totalBytes ?? 0;
      if (!bar) {
        if (Math.max(total, p.bytes) < MIN_BYTES_FOR_BAR) return;
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: total ? `${label} [{bar}] {percentage}% {done} / {all}` : `${label} {done}`,
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total || p.bytes, p.bytes, { done: formatBytes(p.bytes), all: formatBytes(total) });
      }
      if (!total) bar.setTotal(p.bytes);
      bar.update(p.bytes, { done: formatBytes(p.bytes), all: formatBytes(total) });
    },
    done() {
      bar?.stop();
    },
  };
}

/** A bar counting things done (jobs deleted, say) on stderr when it is a terminal; `total` if known. */
export function countBar(label: string, unit: string, total?: number, stream: NodeJS.WriteStream = process.stderr): { update: (done: number) => void; done: () => void } {
  if (!stream.isTTY) return { update: () => {}, done: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream, format: total ? `${label} [{bar}] {value} / {total} ${unit}` : `${label} {value} ${unit}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0);
  return {
    update(done) {
      if (!total) bar.setTotal(done);
      bar.update(done);
    },
    done: () => bar.stop(),
  };
}

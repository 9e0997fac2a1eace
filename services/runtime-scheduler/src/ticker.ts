import type { Logger } from "@kiln/core";

/**
 * Runs `work` every `ms`, one run at a time (a slow run delays the next rather than
 * overlapping it); a failure is logged with `failed` and the next tick tries again. The
 * timer keeps no process alive; stop() waits for a run under way.
 */
export function everyTick(ms: number, work: () => Promise<unknown>, logger: Logger, failed: string): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    running = running
      .then(async () => {
        if (!stopped) await work();
      })
      .catch((e: unknown) => logger.warn({ err: e }, failed));
  }, ms);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

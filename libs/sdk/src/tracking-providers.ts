import type { MessageInitShape } from "@bufbuild/protobuf";
import type { EventSchema } from "@kiln/proto/kiln/tracking/v1/tracking_pb";

/** One event as a provider receives it (the init form of kiln.tracking.v1.Event, without its id). */
export type EventInput = Omit<Extract<MessageInitShape<typeof EventSchema>, { $typeName?: undefined }>, "id">;

/** Where a run's events go. */
export interface RunSink {
  /** The run's number (0 when nothing is recorded). */
  readonly run: number;
  /** projects/{p}/experiments/{e}/runs/{n}, or "" when nothing is recorded. */
  readonly name: string;
  log(event: EventInput): void;
  flush(): Promise<void>;
  end(status: "finished" | "failed" | "killed"): Promise<void>;
}

/**
 * A tracking provider opens runs and receives their events. `default` sends them to the
 * tracking service, `profiling` also samples the machine, `notrack` drops them; a custom
 * provider (e.g. forwarding to another store) implements this.
 */
export interface TrackingProvider {
  startRun(experiment: string, options: { tags: Record<string, string>; node: string }): Promise<RunSink>;
}

/** Records nothing; the same API works. */
export const notrack: TrackingProvider = {
  async startRun() {
    return { run: 0, name: "", log() {}, async flush() {}, async end() {} };
  },
};

/** Samples the process and machine into profile events every `intervalMs` while the run is open. */
export function profiling(inner: TrackingProvider, intervalMs = 1_000): TrackingProvider {
  return {
    async startRun(experiment, options) {
      const sink = await inner.startRun(experiment, options);
      const { sampleMachine } = await import("./node-profile.js");
      const sample = () => {
        if (typeof sampleMachine !== "function") return; // browsers: nothing to sample
        for (const [key, value] of Object.entries(sampleMachine())) sink.log({ event: "profile", key, node: options.node, value: { case: "number", value } });
      };
      sample();
      const timer = setInterval(sample, intervalMs);
      (timer as { unref?: () => void }).unref?.();
      return {
        run: sink.run,
        name: sink.name,
        log: (e) => sink.log(e),
        flush: () => sink.flush(),
        async end(status) {
          clearInterval(timer);
          sample();
          await sink.end(status);
        },
      };
    },
  };
}

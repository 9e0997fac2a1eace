import { fromBinary } from "@bufbuild/protobuf";
import type { Subscription } from "@kiln/bus";
import { INGEST_STREAM, INGEST_SUBJECT_PREFIX } from "@kiln/contracts";
import { IngestBatchSchema, RunStatus } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { toTracked } from "./log.js";
import { runName } from "./names.js";
import { endRun, startRun } from "./runs.js";

const INGEST_CONSUMER = "tracking_ingest";

/**
 * Events other services publish (executors tracking runtime jobs) come in through one
 * durable consumer: a batch is acked only once stored, and event ids make a redelivered
 * batch harmless, so a tracking restart loses and duplicates nothing.
 */
export async function startIngest(deps: TrackingDeps): Promise<{ stop(): Promise<void> }> {
  const sub: Subscription = await deps.bus.subscribe({
    stream: INGEST_STREAM.name,
    durable: INGEST_CONSUMER,
    filterSubject: `${INGEST_SUBJECT_PREFIX}.>`,
    // A batch stores in milliseconds; after a crash its message comes back this soon.
    ackWaitMs: 5_000,
  });
  const done = (async () => {
    for await (const msg of sub) {
      try {
        const batch = fromBinary(IngestBatchSchema, msg.data);
        const run = await startRun(deps, { parent: batch.experiment, tags: {}, node: batch.node, runKey: batch.runKey, createExperiment: true }, batch.creator);
        const now = nowOf(deps).getTime();
        if (batch.events.length) await deps.events.append(batch.events.map((e) => toTracked(e, batch.experiment, run.run, now)));
        if (batch.endStatus !== RunStatus.UNSPECIFIED) await endRun(deps, runName(batch.experiment, run.run), batch.endStatus);
        msg.ack();
      } catch (e) {
        deps.logger.warn({ err: e, subject: msg.subject, deliveries: msg.deliveryCount }, "could not ingest tracking events");
        // Bad input never gets better; anything else is tried again shortly.
        if ((e as { code?: number }).code === 3 || msg.deliveryCount >= 10) msg.term();
        else msg.nak(1_000);
      }
    }
  })();
  return {
    async stop() {
      // The in-process bus's batches end with the process: they are stored first.
      await sub.drain();
      await done;
    },
  };
}

import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import type { Executor } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { changeDeployment } from "./deployments.js";
import { aliveExecutors } from "./executors.js";
import { nowOf, type Scheduler } from "./job-store.js";
import { wantedReplicas } from "./autoscaling-spec.js";
import { everyTick } from "./ticker.js";

/** Heartbeats the request rate is measured over. */
export const RATE_WINDOW_BEATS = 10;

/** Each executor's count of the deployment's requests, per version it serves (a count starts at 0 when a version loads). */
function requestCounts(d: Deployment, alive: Executor[]): Map<string, bigint> {
  const counts = new Map<string, bigint>();
  for (const e of alive) {
    for (const served of e.serving) {
      if (served.deployment === d.name && served.stats) counts.set(`${e.name}|${served.modelVersion}|${served.canaryModelVersion}`, served.stats.requests);
    }
  }
  return counts;
}

interface Sample {
  at: number;
  counts: Map<string, bigint>;
}

/** What one scheduler remembers of a deployment between ticks. */
interface Measure {
  samples: Sample[];
  /** Since when the load has wanted fewer replicas than the deployment has, and the most it wanted meanwhile. */
  lowSince?: number;
  lowWanted?: number;
}

/**
 * Requests a second over the samples (oldest first): the growth of each count of the last
 * one from sample to sample since the first that has it (a count that went down
 * restarted, and counts from 0), over the window. A count first seen within the window (an executor back from
 * missed heartbeats, or one that took the deployment on) counts from there, not its whole
 * past, so a returning executor is no spike.
 */
export function requestRate(samples: Sample[]): number | undefined {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.at <= first.at) return undefined;
  let requests = 0n;
  for (const key of last.counts.keys()) {
    let before: bigint | undefined;
    for (const sample of samples) {
      const now = sample.counts.get(key);
      if (now === undefined) continue;
      if (before !== undefined) requests += now < before ? now : now - before;
      before = now;
    }
  }
  return Number(requests) / ((last.at - first.at) / 1000);
}

/**
 * Scales deployments with `autoscaling` by the requests a second they answer (see
 * Autoscaling in deployments.proto), every heartbeat. Every scheduler measures and may
 * write; a change is written under the record's revision, so two agree rather than fight.
 */
export function startAutoscaler(s: Scheduler): { stop(): Promise<void> } {
  const measures = new Map<string, Measure>();
  const tick = async () => {
    const scaled = (await s.deployments.get()).filter((d) => d.autoscaling);
    const rates = s.requestRates;
    for (const name of measures.keys()) {
      if (scaled.some((d) => d.name === name)) continue;
      measures.delete(name);
      rates.delete(name);
    }
    if (!scaled.length) return;
    const alive = await aliveExecutors(s);
    const now = nowOf(s).getTime();
    for (const d of scaled) {
      const m = measures.get(d.name) ?? { samples: [] };
      measures.set(d.name, m);
      m.samples.push({ at: now, counts: requestCounts(d, alive) });
      if (m.samples.length > RATE_WINDOW_BEATS + 1) m.samples.shift();
      const rate = requestRate(m.samples);
      if (rate === undefined) continue;
      rates.set(d.name, rate);
      const replicas = decide(d, m, wantedReplicas(d.autoscaling!, rate), now);
      if (replicas !== undefined) await scaleTo(s, d.name, replicas, rate);
    }
  };
  return everyTick(s.settings.heartbeatMs, tick, s.logger, "autoscaling deployments failed; the next heartbeat tries again");
}

/** The replicas to set now, if they change: up at once, down once the load has wanted fewer for the delay. */
function decide(d: Deployment, m: Measure, wanted: number, now: number): number | undefined {
  if (wanted >= d.replicas) {
    m.lowSince = m.lowWanted = undefined;
    return wanted > d.replicas ? wanted : undefined;
  }
  m.lowSince ??= now;
  m.lowWanted = Math.max(m.lowWanted ?? wanted, wanted);
  if (now - m.lowSince < durationMs(d.autoscaling!.scaleDownDelay!)) return undefined;
  const down = m.lowWanted;
  m.lowSince = m.lowWanted = undefined;
  return down;
}

/** Sets the replicas (within the bounds, or 0 for one that scales to zero) under the record's revision. */
export async function scaleTo(s: Scheduler, name: string, replicas: number, rate: number): Promise<void> {
  let from = 0;
  const scaled = await changeDeployment(s, name, "autoscaler", (deployment) => {
    const a = deployment.autoscaling;
    if (!a || deployment.replicas === replicas) return false;
    from = deployment.replicas;
    deployment.replicas = replicas === 0 && a.scaleToZero ? 0 : Math.min(Math.max(replicas, a.minReplicas), a.maxReplicas);
  });
  if (scaled) s.logger.info({ deployment: name, from, to: scaled.replicas, requestsPerSecond: Math.round(rate * 10) / 10 }, "scaled a deployment by its load");
}

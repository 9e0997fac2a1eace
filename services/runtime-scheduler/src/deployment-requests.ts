import type { BusReply } from "@kiln/bus";
import { ServedState } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { isKilnError } from "@kiln/core";
import { servesDeployment } from "./assignments.js";
import { scaleTo } from "./autoscaler.js";
import type { Scheduler } from "./job-store.js";

/** Sends of one prediction at most: the first, and again after executors that served it were lost. */
const MAX_SENDS = 4;

type Outcome = { reply: BusReply } | { error: unknown };

/**
 * Asks a deployment's executors (one of them takes it) and waits for the answer for
 * `timeoutMs` (KILN_PREDICT_TIMEOUT_MS, or less if the caller's deadline is sooner). NATS
 * says nothing when the executor that took a request dies with it, so while it waits it
 * looks at the executors serving the deployment every heartbeat interval: when one of them is gone (three heartbeats missed), or when none
 * served it and one does now, it sends the request again (a prediction is pure, so a
 * second answer is harmless; the first one wins). A killed executor then costs its
 * requests about two seconds instead of the whole timeout.
 */
export async function requestPrediction(s: Scheduler, deployment: string, subject: string, data: Uint8Array, timeoutMs: number): Promise<BusReply> {
  const deadline = Date.now() + timeoutMs;
  const sends: Promise<Outcome>[] = [];
  let lastFailed = false;
  const send = () => {
    const sent = s.bus.request(subject, data, { timeoutMs: Math.max(1, deadline - Date.now()) }).then(
      (reply): Outcome => ({ reply }),
      (error: unknown): Outcome => {
        if (sent === sends.at(-1)) lastFailed = isKilnError(error) && error.reason === "NO_RESPONDERS";
        return { error };
      },
    );
    sends.push(sent);
  };
  let serving = await servingExecutors(s, deployment);
  send();
  for (;;) {
    const left = deadline - Date.now();
    // A plain timer, cleared once answered: aborting a signal would build an AbortError per request.
    let timer: NodeJS.Timeout | undefined;
    const pause = left > 0 ? [new Promise<undefined>((resolve) => (timer = setTimeout(resolve, Math.min(s.settings.heartbeatMs, left), undefined)))] : [];
    const outcome = await Promise.race([firstAnswer(sends), ...pause]);
    clearTimeout(timer);
    if (outcome && "reply" in outcome) return outcome.reply;
    if (outcome) throw outcome.error;
    const now = await servingExecutors(s, deployment);
    const lost = serving.some((name) => !now.includes(name));
    if (sends.length < MAX_SENDS && (lost || (lastFailed && now.length > 0))) send();
    serving = now;
  }
}

/** The first reply of any send; once every send failed, the last one's error. */
function firstAnswer(sends: readonly Promise<Outcome>[]): Promise<Outcome> {
  const all = [...sends];
  return new Promise((resolve) => {
    let failed = 0;
    for (const sent of all) {
      void sent.then((outcome) => {
        if ("reply" in outcome) resolve(outcome);
        else if (++failed === all.length) resolve(outcome);
      });
    }
  });
}

/** The executors alive now that report the deployment loaded (any version of it). */
export async function servingExecutors(s: Scheduler, deployment: string): Promise<string[]> {
  return (await s.alive.get()).filter((e) => servesDeployment(e, deployment)).map((e) => e.name);
}

/**
 * A deployment that autoscaling scaled to zero is woken by a request: its replicas go back
 * to its floor, and the request waits, until `deadline`, for an executor to serve it (one
 * sent before would find no one to answer). A deployment some executor serves, or that
 * does not scale to zero, is left as it is.
 */
export async function wakeIfScaledToZero(s: Scheduler, deployment: string, deadline: number): Promise<void> {
  const d = (await s.deployments.get()).find((x) => x.name === deployment);
  if (!d?.autoscaling?.scaleToZero || (await servingExecutors(s, deployment)).length > 0) return;
  if (d.replicas === 0) {
    s.logger.info({ deployment }, "waking a deployment scaled to zero for a request");
    await scaleTo(s, deployment, Math.max(1, d.autoscaling.minReplicas), 0);
  }
  while (Date.now() < deadline && (await servingExecutors(s, deployment)).length === 0) {
    // An executor that could not load the model will not serve it: the request fails now, saying why, rather than at its timeout.
    if ((await s.alive.get()).some((e) => e.serving.some((x) => x.deployment === deployment && x.state === ServedState.FAILED))) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(s.settings.heartbeatMs / 2, Math.max(1, deadline - Date.now()))));
  }
}

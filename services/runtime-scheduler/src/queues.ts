import { createHash } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { invalidArgument, printable } from "@kiln/core";
import { QueuedJobSchema, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { SchedulerDeps } from "./deps.js";

export interface QueueRecord {
  labels: string[];
  subject: string;
  consumer: string;
}

const LABEL = /^[A-Za-z0-9_.:=+-]{1,64}$/;

/** Sorted, unique, checked labels. */
export function normalizeLabels(labels: readonly string[]): string[] {
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw invalidArgument("INVALID_LABEL", `invalid executor label "${printable(label)}": use 1 to 64 letters, digits or _ . : = + -`);
    }
  }
  return [...new Set(labels)].sort();
}

/**
 * One work queue per set of required labels. JetStream lets a work-queue stream have only
 * consumers with disjoint filters, so each label set gets its own subject and one durable
 * that every executor having those labels shares; an executor pulls from all the queues
 * its labels satisfy.
 */
export function queueFor(labels: string[]): QueueRecord {
  const key = labels.length === 0 ? "any" : createHash("sha256").update(labels.join("\n")).digest("hex").slice(0, 16);
  return { labels, subject: `kiln.runtime.v1.queue.${key}`, consumer: `jobs_${key}` };
}

function queues(deps: SchedulerDeps) {
  return deps.metadata.collection<QueueRecord>("runtime_queues");
}

/** Remembers a label set's queue so executors hear of it; cheap when it is known already. */
export async function ensureQueue(deps: SchedulerDeps, queue: QueueRecord): Promise<void> {
  if (await queues(deps).get(queue.consumer)) return;
  await queues(deps).create(queue.consumer, queue).catch(async (e: unknown) => {
    if (!(await queues(deps).get(queue.consumer))) throw e;
  });
}

/** Puts the job's message on its queue (keyed by the job, so a repeat within the bus's window is one message). */
export function enqueue(deps: SchedulerDeps, job: Job): Promise<void> {
  return deps.bus.publish(queueFor(job.requiredLabels).subject, toBinary(QueuedJobSchema, create(QueuedJobSchema, { name: job.name })), { msgId: job.name });
}

/** The queues an executor with these labels serves. */
export async function queuesServedBy(deps: SchedulerDeps, labels: readonly string[]): Promise<QueueRecord[]> {
  const have = new Set(labels);
  const all = await queues(deps).list();
  return all.map((q) => q.value).filter((q) => q.labels.every((l) => have.has(l)));
}

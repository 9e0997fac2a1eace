import { fromBinary, toJson, type DescMessage } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { invalidArgument, printable } from "@kiln/core";
import { DeploymentEventSchema } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { InferenceGraphEventSchema } from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { RegistryEventSchema } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { JobEventSchema } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DatasetEventSchema } from "@kiln/proto/kiln/store/v1/store_pb";

/** The events a webhook may ask for, by family: the subjects' `<resource>.<event>`. */
const EVENTS: Record<string, readonly string[]> = {
  job: ["queued", "released", "started", "requeued", "succeeded", "failed", "cancelled", "deleted"],
  deployment: ["created", "updated", "deleted"],
  inference_graph: ["created", "updated", "deleted"],
  model: ["created", "deleted"],
  model_version: ["created", "deleted"],
  tag: ["moved"],
  dataset: ["created", "version_created", "deleted"],
};

/** The subjects the webhooks read, on the streams that hold them. */
export const WEBHOOK_SUBJECTS = ["kiln.runtime.v1.job.>", "kiln.runtime.v1.deployment.>", "kiln.runtime.v1.inference_graph.>", "kiln.registry.v1.>", "kiln.store.v1.>"];

/** A webhook's events, checked (INVALID_EVENTS), each once. */
export function checkEventPatterns(patterns: readonly string[]): string[] {
  if (patterns.length === 0) throw invalidArgument("EVENTS_REQUIRED", `webhook.events is required: e.g. "job.failed", "model_version.created", "job.*" or "*"`);
  for (const pattern of patterns) {
    if (pattern === "*") continue;
    const [family, event, ...rest] = pattern.split(".");
    const known = EVENTS[family!];
    if (!known || rest.length || !event || (event !== "*" && !known.includes(event))) {
      const all = Object.entries(EVENTS).flatMap(([f, events]) => events.map((e) => `${f}.${e}`));
      throw invalidArgument("INVALID_EVENTS", `webhook.events: "${printable(pattern)}" is not an event: one of ${all.join(", ")}, a family with "*" (job.*), or "*"`);
    }
  }
  return [...new Set(patterns)];
}

/** Whether an event ("job.failed") is one the patterns ask for. */
export function wants(patterns: readonly string[], event: string): boolean {
  const family = event.slice(0, event.lastIndexOf("."));
  return patterns.some((p) => p === "*" || p === event || p === `${family}.*`);
}

/** `kiln.runtime.v1.job.failed` → `job.failed`. */
export function eventName(subject: string): string {
  return subject.split(".").slice(3).join(".");
}

/** What a webhook is sent of an event: its project, the resource it is about, when, and its message as proto3 JSON. */
export interface DecodedEvent {
  project: string;
  resource: string;
  time: Date;
  data: unknown;
}

const SCHEMAS: [prefix: string, schema: DescMessage, resource: (m: never) => string][] = [
  ["kiln.runtime.v1.job.", JobEventSchema, (m: { job?: { name: string } }) => m.job?.name ?? ""],
  ["kiln.runtime.v1.deployment.", DeploymentEventSchema, (m: { deployment?: { name: string } }) => m.deployment?.name ?? ""],
  ["kiln.runtime.v1.inference_graph.", InferenceGraphEventSchema, (m: { inferenceGraph?: { name: string } }) => m.inferenceGraph?.name ?? ""],
  ["kiln.registry.v1.", RegistryEventSchema, (m: { model: string; version?: { name: string } }) => m.version?.name || m.model],
  ["kiln.store.v1.", DatasetEventSchema, (m: { dataset: string }) => m.dataset],
];

export function decodeEvent(subject: string, bytes: Uint8Array): DecodedEvent | undefined {
  const known = SCHEMAS.find(([prefix]) => subject.startsWith(prefix));
  if (!known) return undefined;
  const [, schema, resourceOf] = known;
  const message = fromBinary(schema, bytes);
  const resource = resourceOf(message as never);
  const time = (message as { time?: Timestamp }).time;
  return {
    project: /^projects\/[^/]+/.exec(resource)?.[0] ?? "",
    resource,
    time: time ? timestampDate(time) : new Date(),
    data: toJson(schema, message),
  };
}

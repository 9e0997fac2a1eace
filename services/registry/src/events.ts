import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { EventBus } from "@kiln/bus";
import { RegistryEventSchema, type ModelVersion } from "@kiln/proto/kiln/registry/v1/registry_pb";

export { REGISTRY_STREAM } from "@kiln/contracts";

export type RegistryEventKind = "model.created" | "model.deleted" | "model_version.created" | "model_version.deleted" | "tag.moved";

export interface RegistryEventData {
  model: string;
  version?: ModelVersion;
  tag?: string;
  previousVersion?: number;
  tagVersion?: number;
}

/** Publishes kiln.registry.v1.<kind>; the msg id makes a retried publish a no-op. */
export async function publishRegistryEvent(bus: EventBus, kind: RegistryEventKind, data: RegistryEventData, at: Date): Promise<void> {
  const payload = create(RegistryEventSchema, {
    model: data.model,
    version: data.version,
    tag: data.tag ?? "",
    previousVersion: BigInt(data.previousVersion ?? 0),
    tagVersion: BigInt(data.tagVersion ?? 0),
    time: timestampFromDate(at),
  });
  const subject = `kiln.registry.v1.${kind}`;
  // A tag's move names both ends: moved to 2 and then away from 2 in the same millisecond are two events.
  const msgId = `${subject}:${data.model}:${data.version?.version ?? ""}:${data.tag ?? ""}:${data.previousVersion ?? ""}>${data.tagVersion ?? ""}:${at.getTime()}`;
  await bus.publish(subject, toBinary(RegistryEventSchema, payload), { msgId });
}

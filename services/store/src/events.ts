import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { EventBus } from "@kiln/bus";
import { DatasetEventSchema, type DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import { versionToProto, type VersionRecord } from "./records.js";

export { STORE_STREAM } from "@kiln/contracts";

export type DatasetEventKind = "created" | "version_created" | "deleted";

/** Publishes kiln.store.v1.dataset.<kind>; the msg id makes a retried publish a no-op. */
export async function publishDatasetEvent(
  bus: EventBus,
  event: DatasetEventKind,
  dataset: { name: string; kind: DatasetKind },
  at: Date,
  version?: VersionRecord,
): Promise<void> {
  const payload = create(DatasetEventSchema, {
    dataset: dataset.name,
    kind: dataset.kind,
    version: version ? versionToProto(version) : undefined,
    time: timestampFromDate(at),
  });
  const subject = `kiln.store.v1.dataset.${event}`;
  const msgId = `${subject}:${dataset.name}:${version?.version ?? at.getTime()}`;
  await bus.publish(subject, toBinary(DatasetEventSchema, payload), { msgId });
}

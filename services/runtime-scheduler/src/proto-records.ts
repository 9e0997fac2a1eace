import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Collection } from "@kiln/storage";
import type { SchedulerDeps } from "./deps.js";

/** A stored message: binary protobuf in base64. */
export interface ProtoRecord {
  pb: string;
}

/**
 * A metadata collection of one kind of protobuf message (schedules, webhooks), and its
 * encoding; `Stored`: a record that keeps more beside the message.
 */
export function protoRecords<Desc extends DescMessage, Stored extends ProtoRecord = ProtoRecord>(collection: string, schema: Desc) {
  return {
    of: (deps: SchedulerDeps): Collection<Stored> => deps.metadata.collection<Stored>(collection),
    decode: (record: ProtoRecord): MessageShape<Desc> => fromBinary(schema, Buffer.from(record.pb, "base64")),
    encode: (message: MessageShape<Desc>): ProtoRecord => ({ pb: Buffer.from(toBinary(schema, message)).toString("base64") }),
  };
}

import type { JsonObject } from "@bufbuild/protobuf";
import { resourceExhausted } from "@kiln/core";

/** User metadata must fit the configured size as JSON. */
export function checkMetadata(metadata: JsonObject | undefined, limit: number): JsonObject {
  const value = metadata ?? {};
  const size = Buffer.byteLength(JSON.stringify(value));
  if (size > limit) {
    throw resourceExhausted("METADATA_TOO_LARGE", `metadata is ${size} bytes as JSON, over the limit of ${limit} (KILN_MAX_METADATA_BYTES)`);
  }
  return value;
}

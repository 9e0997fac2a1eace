import { createHash } from "node:crypto";

/** The key a model's session is cached under: the sha256 of its bytes, hex. */
export function onnxModelKey(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

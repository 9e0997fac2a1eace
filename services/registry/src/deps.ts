import type { EventBus } from "@kiln/bus";
import type { Config, Logger } from "@kiln/core";
import type { PendingOnnxCheck } from "@kiln/onnx";
import type { BlobStore, MetadataStore } from "@kiln/storage";

/** Everything the registry needs; tests and production build it the same way. */
export interface RegistryDeps {
  metadata: MetadataStore;
  /** The registry's own blob namespace. */
  blobs: BlobStore;
  bus: EventBus;
  logger: Logger;
  limits: Config["limits"];
  /** Where uploads are spooled while they are checked. */
  spoolDir: string;
  /**
   * Starts an ONNX check (parse, then load in onnxruntime) before the file is complete;
   * `check(path)` gives its summary or OnnxFormatError.
   */
  startOnnxCheck(): PendingOnnxCheck;
  now?: () => Date;
}

import type { EventBus } from "@kiln/bus";
import type { Config, Logger } from "@kiln/core";
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
  /** Loads an ONNX file in onnxruntime; rejects with OnnxFormatError if it cannot. */
  checkOnnx(path: string): Promise<void>;
  now?: () => Date;
}

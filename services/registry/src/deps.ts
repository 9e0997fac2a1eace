import type { EventBus } from "@kiln/bus";
import type { Config, Logger } from "@kiln/core";
import type { PendingOnnxCheck } from "@kiln/onnx";
import type { BlobStore, MetadataStore, RecentPuts } from "@kiln/storage";

/** Everything the registry needs; tests and production build it the same way. */
export interface RegistryDeps {
  metadata: MetadataStore;
  /** The registry's own blob namespace; with readRecent (withRecentPuts), uploads read fresh chunks back from memory. */
  blobs: BlobStore & Partial<Pick<RecentPuts, "readRecent">>;
  bus: EventBus;
  logger: Logger;
  limits: Config["limits"];
  /** Scratch files of format checks (and spooled uploads, for blob stores without local files). */
  spoolDir: string;
  /**
   * Starts an ONNX check (parse, then load in onnxruntime) before the file is complete;
   * `check(file)` gives its summary or OnnxFormatError.
   */
  startOnnxCheck(): PendingOnnxCheck;
  now?: () => Date;
}

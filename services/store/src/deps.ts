import type { EventBus } from "@kiln/bus";
import type { Config, Logger } from "@kiln/core";
import type { BlobStore, MetadataStore } from "@kiln/storage";

/** Everything the store service needs; tests and production build it the same way. */
export interface StoreDeps {
  metadata: MetadataStore;
  /** The store's own blob namespace. */
  blobs: BlobStore;
  bus: EventBus;
  logger: Logger;
  limits: Config["limits"];
  now?: () => Date;
}

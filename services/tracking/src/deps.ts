import type { Client } from "@connectrpc/connect";
import type { EventBus } from "@kiln/bus";
import type { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { Logger } from "@kiln/core";
import type { BlobStore, EventStore, MetadataStore } from "@kiln/storage";

/** Everything the tracking service needs; tests and production build it the same way. */
export interface TrackingDeps {
  metadata: MetadataStore;
  events: EventStore;
  /** Artifact files, content-addressed. */
  blobs: BlobStore;
  bus: EventBus;
  /** Kiln's registry, where MLflow's model registry API keeps registered models and their versions. */
  registry: Client<typeof RegistryService>;
  logger: Logger;
  limits: { maxMessageBytes: number };
  now?: () => Date;
}

/** Documented limits of one event. */
export const LIMITS = {
  idChars: 128,
  eventChars: 64,
  keyChars: 250,
  nodeChars: 256,
  /** A text or JSON value (a 10 MB param is refused). */
  valueBytes: 1024 * 1024,
  eventsPerRequest: 100_000,
};

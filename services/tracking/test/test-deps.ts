import { join } from "node:path";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { createMemoryBus } from "@kiln/bus";
import { createLogger } from "@kiln/core";
import { openFsBlobStore, openSqliteEventStore, openSqliteMetadataStore } from "@kiln/storage";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { TrackingDeps } from "../src/deps.js";

/** The tracking service's parts for a test: SQLite files and blobs under `dir`, the in-process bus. */
export function testDeps(dir: string, now?: () => Date): TrackingDeps {
  return {
    metadata: openSqliteMetadataStore(join(dir, "meta.sqlite")),
    events: openSqliteEventStore(join(dir, "events.sqlite")),
    blobs: openFsBlobStore(join(dir, "blobs")),
    bus: createMemoryBus(),
    // No registry: these tests do not reach MLflow's model registry API (the all-in-one ones do), and a call would be Unimplemented.
    registry: createClient(RegistryService, createRouterTransport(() => {})),
    logger: createLogger("test", "silent"),
    limits: { maxMessageBytes: 16 * 1024 * 1024 },
    ...(now && { now }),
  };
}

import { join } from "node:path";
import { createMemoryBus } from "@kiln/bus";
import { createLogger } from "@kiln/core";
import { openFsBlobStore, openSqliteEventStore, openSqliteMetadataStore } from "@kiln/storage";
import type { TrackingDeps } from "../src/deps.js";

/** The tracking service's parts for a test: SQLite files and blobs under `dir`, the in-process bus. */
export function testDeps(dir: string, now?: () => Date): TrackingDeps {
  return {
    metadata: openSqliteMetadataStore(join(dir, "meta.sqlite")),
    events: openSqliteEventStore(join(dir, "events.sqlite")),
    blobs: openFsBlobStore(join(dir, "blobs")),
    bus: createMemoryBus(),
    logger: createLogger("test", "silent"),
    limits: { maxMessageBytes: 16 * 1024 * 1024 },
    ...(now && { now }),
  };
}

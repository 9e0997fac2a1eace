import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { openBus } from "@kiln/bus";
import { runProcess, sendToken, serviceToken } from "@kiln/core";
import { kilnFiles } from "@kiln/proto";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { openBlobStore, openMetadataStore, openSqliteEventStore } from "@kiln/storage";
import { httpRoutes, prepareTracking, register, type TrackingDeps } from "./index.js";

/** The tracking service as its own process: `node services/tracking/dist/main.js`, configured by KILN_* variables. */
await runProcess({
  name: "kiln-tracking",
  files: kilnFiles,
  async setup(config, logger) {
    const deps: TrackingDeps = {
      metadata: await openMetadataStore(config, "tracking"),
      events: openSqliteEventStore(join(config.dataDir, "tracking-events.sqlite")),
      blobs: await openBlobStore(config, "tracking"),
      bus: await openBus(config, "kiln-tracking"),
      // MLflow's model registry API stores models there, for the callers it has checked.
      registry: createClient(RegistryService, createGrpcTransport({ baseUrl: config.runtime.registryUrl, interceptors: sendToken(serviceToken(config, "kiln-tracking")) })),
      logger,
      limits: config.limits,
    };
    const ingest = await prepareTracking(deps);
    return {
      routes: (router) => register(router, deps),
      httpRoutes: httpRoutes(deps),
      async stopping() {
        await ingest.stop();
      },
      async close() {
        await deps.bus.close();
        await deps.events.close();
        await deps.blobs.close();
        await deps.metadata.close();
      },
    };
  },
}).catch(() => process.exit(process.exitCode ?? 1));

import { openBus } from "@kiln/bus";
import { runProcess } from "@kiln/core";
import { kilnFiles } from "@kiln/proto";
import { openBlobStore, openMetadataStore } from "@kiln/storage";
import { httpRoutes, prepareStore, register, type StoreDeps } from "./index.js";

/** The store as its own process: `node services/store/dist/main.js`, configured by KILN_* variables. */
await runProcess({
  name: "kiln-store",
  files: kilnFiles,
  async setup(config, logger) {
    const deps: StoreDeps = {
      metadata: await openMetadataStore(config, "store"),
      blobs: await openBlobStore(config, "store"),
      bus: await openBus(config, "kiln-store"),
      logger,
      limits: config.limits,
    };
    await prepareStore(deps);
    return {
      routes: (router) => register(router, deps),
      httpRoutes: httpRoutes(deps),
      async close() {
        await deps.bus.close();
        await deps.blobs.close();
        await deps.metadata.close();
      },
    };
  },
}).catch(() => process.exit(process.exitCode ?? 1));

import { join } from "node:path";
import { openBus } from "@kiln/bus";
import { runProcess } from "@kiln/core";
import { onnxCheckers } from "@kiln/onnx";
import { kilnFiles } from "@kiln/proto";
import { openBlobStore, openMetadataStore, withRecentPuts } from "@kiln/storage";
import { httpRoutes, prepareRegistry, register, type RegistryDeps } from "./index.js";

/** The registry as its own process: `node services/registry/dist/main.js`, configured by KILN_* variables. */
await runProcess({
  name: "kiln-registry",
  files: kilnFiles,
  async setup(config, logger) {
    const checkers = onnxCheckers();
    const deps: RegistryDeps = {
      metadata: await openMetadataStore(config, "registry"),
      blobs: withRecentPuts(await openBlobStore(config, "registry")),
      bus: await openBus(config, "kiln-registry"),
      logger,
      limits: config.limits,
      spoolDir: join(config.dataDir, "spool", "registry"),
      startOnnxCheck: () => checkers.start(),
    };
    await prepareRegistry(deps);
    return {
      routes: (router) => register(router, deps),
      httpRoutes: httpRoutes(deps),
      async close() {
        checkers.close();
        await deps.bus.close();
        await deps.blobs.close();
        await deps.metadata.close();
      },
    };
  },
}).catch(() => process.exit(process.exitCode ?? 1));

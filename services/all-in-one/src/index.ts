import { openBus } from "@kiln/bus";
import { runProcess, type RunningProcess } from "@kiln/core";
import { kilnFiles } from "@kiln/proto";
import { openBlobStore, openMetadataStore } from "@kiln/storage";
import { join } from "node:path";
import { startOnnxCheck } from "@kiln/onnx";
import * as registry from "@kiln/registry";
import * as store from "@kiln/store";

/**
 * Embedded mode: every service in one process and on one port, embedded storage by
 * default, no external servers. Only wiring lives here.
 */
export async function runEmbedded(env: NodeJS.ProcessEnv = process.env, handleSignals = true): Promise<RunningProcess> {
  const running = await runProcess(
    {
      name: "kiln",
      files: kilnFiles,
      async setup(config, logger) {
        const metadata = await openMetadataStore(config);
        const bus = await openBus(config);
        const storeDeps: store.StoreDeps = {
          metadata,
          blobs: await openBlobStore(config, "store"),
          bus,
          logger: logger.child({ service: "store" }),
          limits: config.limits,
        };
        const registryDeps: registry.RegistryDeps = {
          metadata,
          blobs: await openBlobStore(config, "registry"),
          bus,
          logger: logger.child({ service: "registry" }),
          limits: config.limits,
          spoolDir: join(config.dataDir, "spool", "registry"),
          startOnnxCheck: () => startOnnxCheck(),
        };
        await store.prepareStore(storeDeps);
        await registry.prepareRegistry(registryDeps);
        return {
          routes: (router) => {
            store.register(router, storeDeps);
            registry.register(router, registryDeps);
          },
          httpRoutes: [...store.httpRoutes(storeDeps), ...registry.httpRoutes(registryDeps)],
          async close() {
            await bus.close();
            await storeDeps.blobs.close();
            await registryDeps.blobs.close();
            await metadata.close();
          },
        };
      },
    },
    env,
    handleSignals,
  );
  return running;
}

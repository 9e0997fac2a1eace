import { createClient, createRouterTransport, type ConnectRouter } from "@connectrpc/connect";
import { openBus } from "@kiln/bus";
import { errorInterceptor, runProcess, serviceToken, type Config, type RunningProcess } from "@kiln/core";
import { startExecutor, type RunningExecutor } from "@kiln/executor";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import * as scheduler from "@kiln/runtime-scheduler";
import * as tracking from "@kiln/tracking";
import { kilnFiles } from "@kiln/proto";
import { openBlobStore, openMetadataStore, openSqliteEventStore, withRecentPuts, type MetadataStore } from "@kiln/storage";
import { join } from "node:path";
import { onnxCheckers } from "@kiln/onnx";
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
        const lease = config.bus.backend === "memory" ? await scheduler.holdInProcessBus(metadata, logger, { where: metadataPlace(config) }).catch(closeAndRethrow(metadata)) : undefined;
        const bus = await openBus(config);
        const storeDeps: store.StoreDeps = {
          metadata,
          blobs: await openBlobStore(config, "store"),
          bus,
          logger: logger.child({ service: "store" }),
          limits: config.limits,
        };
        const checkers = onnxCheckers();
        const registryDeps: registry.RegistryDeps = {
          metadata,
          blobs: withRecentPuts(await openBlobStore(config, "registry")),
          bus,
          logger: logger.child({ service: "registry" }),
          limits: config.limits,
          spoolDir: join(config.dataDir, "spool", "registry"),
          startOnnxCheck: () => checkers.start(),
        };
        await store.prepareStore(storeDeps);
        await registry.prepareRegistry(registryDeps);
        // Services calling each other in this process do it without the network.
        const limits = { readMaxBytes: config.limits.maxMessageBytes, writeMaxBytes: config.limits.maxMessageBytes };
        const inProcess = (routes: (router: ConnectRouter) => void) => createRouterTransport(routes, { router: { interceptors: [errorInterceptor(logger)], ...limits } });
        const local = inProcess((router) => {
          store.register(router, storeDeps);
          registry.register(router, registryDeps);
        });
        const runtime = await scheduler.prepareScheduler({
          metadata,
          bus,
          logger: logger.child({ service: "runtime-scheduler" }),
          store: createClient(StoreService, local),
          registry: createClient(RegistryService, local),
          settings: config.runtime,
        });
        // The in-process bus starts empty: jobs a stopped process had queued or running go back on their queues.
        if (config.bus.backend === "memory") await scheduler.requeueAfterRestart(runtime);
        const scheduled = scheduler.startSchedules(runtime);
        const scaling = scheduler.startAutoscaler(runtime);
        // The in-process bus starts empty: deliveries still being tried at a stop are kept for the next start.
        const webhooks = await scheduler.startWebhooks(runtime, { keepUnfinished: config.bus.backend === "memory" });
        const trackingDeps: tracking.TrackingDeps = {
          metadata,
          events: openSqliteEventStore(join(config.dataDir, "tracking-events.sqlite")),
          blobs: await openBlobStore(config, "tracking"),
          bus,
          registry: createClient(RegistryService, local),
          logger: logger.child({ service: "tracking" }),
          limits: config.limits,
        };
        const ingest = await tracking.prepareTracking(trackingDeps);
        const routes = (router: ConnectRouter) => {
          store.register(router, storeDeps);
          registry.register(router, registryDeps);
          scheduler.register(router, runtime);
          tracking.register(router, trackingDeps);
        };
        let executor: RunningExecutor | undefined;
        return {
          routes,
          httpRoutes: [...store.httpRoutes(storeDeps), ...registry.httpRoutes(registryDeps), ...tracking.httpRoutes(trackingDeps), ...scheduler.httpRoutes(runtime)],
          // One executor in the process, a client of the server like any other except that
          // it reaches the services and the stored chunks in-process.
          async listening(url) {
            if (!config.runtime.executor.embedded) return;
            const self = { ...config.runtime, url, storeUrl: url, registryUrl: url, schedulerUrl: url, token: serviceToken(config, "kiln-embedded-executor") };
            executor = await startExecutor(self, bus, logger.child({ service: "executor" }), {
              inProcess: {
                control: scheduler.localExecutorControl(runtime),
                blobs: { [store.CHUNK_PATH_PREFIX]: storeDeps.blobs, [registry.CHUNK_PATH_PREFIX]: registryDeps.blobs },
                transport: inProcess(routes),
              },
            });
          },
          // What makes events stops first, so those it made on the way are delivered or kept.
          async stopping() {
            await scheduled.stop();
            await scaling.stop();
            await executor?.stop();
            await webhooks.stop();
            await ingest.stop();
          },
          async close() {
            checkers.close();
            await bus.close();
            await storeDeps.blobs.close();
            await registryDeps.blobs.close();
            await trackingDeps.events.close();
            await trackingDeps.blobs.close();
            await lease?.release();
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

/** Where this process's metadata is, as its user configured it. */
function metadataPlace(config: Config): string {
  return config.metadata.backend === "sqlite" ? `KILN_DATA_DIR ${config.dataDir}` : `MongoDB database ${config.metadata.database}`;
}

/** Closes what setup opened before a refusal, then passes the refusal on. */
function closeAndRethrow(metadata: MetadataStore): (e: unknown) => Promise<never> {
  return async (e) => {
    await metadata.close();
    throw e;
  };
}

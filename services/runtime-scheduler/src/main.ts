import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { openBus } from "@kiln/bus";
import { requireSharedBus, runProcess, sendToken, serviceToken } from "@kiln/core";
import { kilnFiles } from "@kiln/proto";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { openMetadataStore } from "@kiln/storage";
import { httpRoutes, prepareScheduler, register, startAutoscaler, startSchedules, startWebhooks } from "./index.js";

/** The runtime scheduler as its own process: `node services/runtime-scheduler/dist/main.js`, configured by KILN_* variables. */
await runProcess({
  name: "kiln-runtime-scheduler",
  files: kilnFiles,
  check: (config) => requireSharedBus(config, "a runtime scheduler"),
  async setup(config, logger) {
    const { runtime } = config;
    const token = serviceToken(config, "kiln-runtime-scheduler");
    const metadata = await openMetadataStore(config, "runtime");
    const bus = await openBus(config, "kiln-runtime-scheduler");
    const scheduler = await prepareScheduler({
      metadata,
      bus,
      logger,
      store: createClient(StoreService, createGrpcTransport({ baseUrl: runtime.storeUrl, interceptors: sendToken(token) })),
      registry: createClient(RegistryService, createGrpcTransport({ baseUrl: runtime.registryUrl, interceptors: sendToken(token) })),
      settings: runtime,
    });
    const scheduled = startSchedules(scheduler);
    const scaling = startAutoscaler(scheduler);
    const webhooks = await startWebhooks(scheduler);
    return {
      routes: (router) => register(router, scheduler),
      httpRoutes: httpRoutes(scheduler),
      async close() {
        await scheduled.stop();
        await scaling.stop();
        await webhooks.stop();
        await bus.close();
        await metadata.close();
      },
    };
  },
}).catch(() => process.exit(process.exitCode ?? 1));

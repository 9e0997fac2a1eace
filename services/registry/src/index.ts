import type { ConnectRouter } from "@connectrpc/connect";
import { blobRoute, removeStaleSpoolFiles, type HttpRoute } from "@kiln/core";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { RegistryDeps } from "./deps.js";
import { CHUNK_PATH_PREFIX } from "./download.js";
import { registryGarbage } from "./garbage.js";
import { REGISTRY_STREAM } from "./events.js";
import { createRegistryService } from "./service.js";

export { CHUNK_PATH_PREFIX };
export type { RegistryDeps } from "./deps.js";
export { createRegistryService } from "./service.js";
export { REGISTRY_STREAM } from "./events.js";

/** Prepares what the registry needs on the bus, and clears what a crash left in its spool; call once before serving. */
export async function prepareRegistry(deps: RegistryDeps): Promise<void> {
  await deps.bus.ensureStream(REGISTRY_STREAM);
  await removeStaleSpoolFiles(deps.spoolDir);
}

export function register(router: ConnectRouter, deps: RegistryDeps): void {
  router.service(RegistryService, createRegistryService(deps));
}

/** Plain HTTP endpoints beside the RPCs (chunk bytes for uploads and downloads by reference). */
export function httpRoutes(deps: RegistryDeps): HttpRoute[] {
  const garbage = registryGarbage(deps);
  return [
    blobRoute(CHUNK_PATH_PREFIX, deps.blobs, deps.logger, {
      maxPutBytes: deps.limits.maxMessageBytes,
      onStored: (sha256) => garbage.mark([sha256]),
    }),
  ];
}

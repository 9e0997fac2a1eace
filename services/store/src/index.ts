import type { ConnectRouter } from "@connectrpc/connect";
import { blobRoute, type HttpRoute } from "@kiln/core";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { storeGarbage } from "./garbage.js";
import { CHUNK_PATH_PREFIX } from "./reader.js";
import type { StoreDeps } from "./deps.js";
import { STORE_STREAM } from "./events.js";
import { createStoreService } from "./service.js";

export { CHUNK_PATH_PREFIX };
export type { StoreDeps } from "./deps.js";
export { createStoreService } from "./service.js";
export { STORE_STREAM } from "./events.js";

/** Prepares what the store needs on the bus; call once before serving. */
export async function prepareStore(deps: StoreDeps): Promise<void> {
  await deps.bus.ensureStream(STORE_STREAM);
}

export function register(router: ConnectRouter, deps: StoreDeps): void {
  router.service(StoreService, createStoreService(deps));
}

/** Plain HTTP endpoints served beside the RPCs (chunk bytes for bulk reads). */
export function httpRoutes(deps: StoreDeps): HttpRoute[] {
  const garbage = storeGarbage(deps);
  return [
    blobRoute(CHUNK_PATH_PREFIX, deps.blobs, deps.logger, {
      maxPutBytes: deps.limits.maxMessageBytes,
      onStored: (sha256) => garbage.mark([sha256]),
    }),
  ];
}

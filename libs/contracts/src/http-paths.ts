/**
 * Where the services serve blobs over plain HTTP, by sha256 (GET, HEAD, PUT): the store's
 * dataset chunks, the registry's model and attachment chunks, tracking's artifacts. The
 * paths of the chunk references reads return; executors that read blobs straight from the
 * blob store map the first two back to the store each belongs to; the proxy routes by them.
 */
export const STORE_CHUNK_PATH_PREFIX = "/kiln/store/v1/chunks/";
export const REGISTRY_CHUNK_PATH_PREFIX = "/kiln/registry/v1/chunks/";
export const TRACKING_ARTIFACT_PATH_PREFIX = "/kiln/tracking/v1/artifacts/";

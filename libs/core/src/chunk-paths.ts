/**
 * Where the store and the registry serve chunks over plain HTTP, by sha256 (the paths of
 * the chunk references their reads return). Executors that read blobs straight from the
 * blob store map these back to the store each prefix belongs to.
 */
export const STORE_CHUNK_PATH_PREFIX = "/kiln/store/v1/chunks/";
export const REGISTRY_CHUNK_PATH_PREFIX = "/kiln/registry/v1/chunks/";

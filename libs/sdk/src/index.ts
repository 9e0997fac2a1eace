export { Kiln, DEFAULT_URL, type ConnectOptions } from "./client.js";
export { Datasets, CHUNK_BYTES, type PutOptions, type ReadOptions, type DatasetValue, type WriteModeName } from "./datasets.js";
export type { TensorData, DatasetInput, KindName } from "./inputs.js";
export type { DatasetInfo, VersionInfo } from "./summaries.js";
export type { Progress, ProgressListener } from "./transfer.js";
export * from "./errors.js";
export { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";

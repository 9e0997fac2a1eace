import type { DescFile } from "@bufbuild/protobuf";
import { file_kiln_common_v1_chunk } from "./gen/kiln/common/v1/chunk_pb.js";
import { file_kiln_common_v1_resource } from "./gen/kiln/common/v1/resource_pb.js";
import { file_kiln_common_v1_table } from "./gen/kiln/common/v1/table_pb.js";
import { file_kiln_common_v1_tensor } from "./gen/kiln/common/v1/tensor_pb.js";
import { file_kiln_registry_v1_registry } from "./gen/kiln/registry/v1/registry_pb.js";
import { file_kiln_runtime_v1_runtime } from "./gen/kiln/runtime/v1/runtime_pb.js";
import { file_kiln_runtime_v1_deployments } from "./gen/kiln/runtime/v1/deployments_pb.js";
import { file_kiln_runtime_v1_schedules } from "./gen/kiln/runtime/v1/schedules_pb.js";
import { file_kiln_runtime_v1_webhooks } from "./gen/kiln/runtime/v1/webhooks_pb.js";
import { file_kiln_runtime_v1_inference_graphs } from "./gen/kiln/runtime/v1/inference_graphs_pb.js";
import { file_inference_grpc_predict_v2 } from "./gen/inference/grpc_predict_v2_pb.js";
import { file_kiln_store_v1_store } from "./gen/kiln/store/v1/store_pb.js";
import { file_kiln_tracking_v1_tracking } from "./gen/kiln/tracking/v1/tracking_pb.js";
import { file_kiln_auth_v1_auth } from "./gen/kiln/auth/v1/auth_pb.js";

/** Every Kiln contract file (and the Open Inference Protocol's), for server reflection. Import messages from the subpaths. */
export const kilnFiles: readonly DescFile[] = [
  file_kiln_common_v1_chunk,
  file_kiln_common_v1_resource,
  file_kiln_common_v1_table,
  file_kiln_common_v1_tensor,
  file_kiln_store_v1_store,
  file_kiln_registry_v1_registry,
  file_kiln_runtime_v1_runtime,
  file_kiln_runtime_v1_deployments,
  file_kiln_runtime_v1_schedules,
  file_kiln_runtime_v1_webhooks,
  file_kiln_runtime_v1_inference_graphs,
  file_inference_grpc_predict_v2,
  file_kiln_tracking_v1_tracking,
  file_kiln_auth_v1_auth,
];
export { float64Bytes, float64sFrom } from "./float64-bytes.js";

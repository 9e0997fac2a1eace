"""An Open Inference Protocol (KServe V2 gRPC) client as Triton's and KServe's Python clients
call a server: the protocol's own messages (protoc-generated from proto/inference), the
service path /inference.GRPCInferenceService/..., NumPy arrays as raw little-endian contents.
It knows nothing of Kiln. Prints one JSON object for the test to check. With KILN_TOKEN set,
every call carries it as the `authorization` metadata (Triton's clients: headers=...).

Usage: [KILN_TOKEN=...] PYTHONPATH=<protoc --python_out dir> python3 oip_client.py HOST:PORT MODEL
"""
import json
import os
import sys

import grpc
import numpy as np

from inference import grpc_predict_v2_pb2 as pb

target, model = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(target)
token = os.environ.get("KILN_TOKEN")
metadata = [("authorization", f"Bearer {token}")] if token else []


def rpc(method, request_type, response_type):
    call = channel.unary_unary(f"/inference.GRPCInferenceService/{method}", request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString)
    return lambda request, timeout: call(request, timeout=timeout, metadata=metadata)


live = rpc("ServerLive", pb.ServerLiveRequest, pb.ServerLiveResponse)(pb.ServerLiveRequest(), timeout=10).live
ready = rpc("ModelReady", pb.ModelReadyRequest, pb.ModelReadyResponse)(pb.ModelReadyRequest(name=model), timeout=10).ready
meta = rpc("ModelMetadata", pb.ModelMetadataRequest, pb.ModelMetadataResponse)(pb.ModelMetadataRequest(name=model), timeout=10)
infer = rpc("ModelInfer", pb.ModelInferRequest, pb.ModelInferResponse)

x = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=np.float32)
request = pb.ModelInferRequest(model_name=model, id="py-1")
tensor = request.inputs.add()
tensor.name = meta.inputs[0].name
tensor.datatype = "FP32"
tensor.shape.extend(x.shape)
request.raw_input_contents.append(x.tobytes())
response = infer(request, timeout=10)
out = response.outputs[0]
predictions = np.frombuffer(response.raw_output_contents[0], dtype={"FP32": np.float32, "FP64": np.float64}[out.datatype]).reshape(tuple(out.shape))

try:
    bad = pb.ModelInferRequest(model_name=model)
    t = bad.inputs.add()
    t.name, t.datatype = "X", "FP32"
    t.shape.extend([2, 2])
    t.contents.fp32_contents.extend([1.0, 2.0, 3.0])
    infer(bad, timeout=10)
    refused = None
except grpc.RpcError as e:
    refused = {"code": e.code().name, "message": e.details()}

print(json.dumps({
    "live": live,
    "ready": ready,
    "metadata": {"name": meta.name, "versions": list(meta.versions), "platform": meta.platform, "inputs": [{"name": i.name, "datatype": i.datatype, "shape": list(i.shape)} for i in meta.inputs]},
    "infer": {"id": response.id, "model_version": response.model_version, "name": out.name, "datatype": out.datatype, "shape": list(out.shape), "values": predictions.tolist()},
    "refused": refused,
}))

"""A Python script on plain grpcio and protoc-generated messages (no SDK, no Arrow) asking
why a model answers so: an EXPLAIN job on rows sent as JSON, waited for, its summary read;
then a deployment's rows explained online (Predict with kind EXPLAIN and its params), the
answer's rows as JSON. Prints one JSON object for the test to check.

Usage: PYTHONPATH=<protoc --python_out dir> python3 explain_client.py HOST:PORT MODEL DEPLOYMENT BACKGROUND
"""
import json
import sys
import time

import grpc
from google.protobuf import json_format, struct_pb2

from kiln.common.v1 import table_pb2 as table
from kiln.runtime.v1 import deployments_pb2 as deployments
from kiln.runtime.v1 import runtime_pb2 as runtime

target, model, deployment, background = sys.argv[1:5]
channel = grpc.insecure_channel(target)


def unary(service, method, request_type, response_type):
    return channel.unary_unary(f"/{service}/{method}", request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString)


submit_job = unary("kiln.runtime.v1.RuntimeService", "SubmitJob", runtime.SubmitJobRequest, runtime.SubmitJobResponse)
get_job = unary("kiln.runtime.v1.RuntimeService", "GetJob", runtime.GetJobRequest, runtime.GetJobResponse)
predict = unary("kiln.runtime.v1.DeploymentService", "Predict", deployments.PredictRequest, deployments.PredictResponse)

# Rows of numbers, as sklearn's X: columns x0, x1 in order (a Struct's keys would come in no set order).
rows = [[1.0, 2.0], [3.0, 0.0]]


def value(python):
    v = struct_pb2.Value()
    json_format.ParseDict(python, v)
    return v


def struct(python):
    s = struct_pb2.Struct()
    s.update(python)
    return s


submitted = submit_job(runtime.SubmitJobRequest(parent="projects/default", job=runtime.Job(
    kind=runtime.JOB_KIND_EXPLAIN,
    model=f"projects/default/models/{model}",
    x=runtime.JobInput(data=value(rows)),
    y=runtime.JobInput(dataset=f"projects/default/datasets/{background}"),
    params=struct({"background_rows": 50}),
)), timeout=30).job
job = submitted
deadline = time.time() + 30
while job.state not in (runtime.JOB_STATE_SUCCEEDED, runtime.JOB_STATE_FAILED, runtime.JOB_STATE_CANCELLED) and time.time() < deadline:
    time.sleep(0.1)
    job = get_job(runtime.GetJobRequest(name=submitted.name), timeout=30).job
explanation = job.result.explanation

online = predict(deployments.PredictRequest(
    deployment=f"projects/default/deployments/{deployment}",
    data=value(rows),
    kind=runtime.JOB_KIND_EXPLAIN,
    params=struct({"background": background, "background_rows": 50}),
    encoding=table.ROW_ENCODING_JSON,
), timeout=30)

print(json.dumps({
    "job": {
        "state": runtime.JobState.Name(job.state),
        "method": explanation.method,
        "background_rows": explanation.background_rows,
        "outputs": [{"output": o.output, "base_value": o.base_value, "features": [f.feature for f in o.features]} for o in explanation.outputs],
        "metrics": dict(job.result.metrics),
    },
    "online": {
        "columns": list(online.json.columns),
        "rows": [json_format.MessageToDict(r) for r in online.json.rows],
    },
}))

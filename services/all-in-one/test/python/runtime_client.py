"""A Python user of Kiln's runtime through plain grpcio and protoc-generated messages (no SDK):
fit a model on rows carried in the submit, predict on more rows with the results streamed
back as JSON rows (no Arrow library needed), score, and one refused submit. Prints one JSON object for the test to check.

Usage: PYTHONPATH=<protoc --python_out dir> python3 runtime_client.py HOST:PORT MODEL
"""
import json
import sys
import time

import grpc
from google.protobuf import json_format, struct_pb2

from kiln.common.v1 import table_pb2
from kiln.runtime.v1 import runtime_pb2 as rt

target, model = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(target)


def unary(method, request_type, response_type):
    return channel.unary_unary(f"/kiln.runtime.v1.RuntimeService/{method}", request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString)


submit = unary("SubmitJob", rt.SubmitJobRequest, rt.SubmitJobResponse)
get_job = unary("GetJob", rt.GetJobRequest, rt.GetJobResponse)
read_results = channel.unary_stream("/kiln.runtime.v1.RuntimeService/ReadJobResults", request_serializer=rt.ReadJobResultsRequest.SerializeToString, response_deserializer=rt.ReadJobResultsResponse.FromString)


def data(value):
    return json_format.ParseDict(value, struct_pb2.Value())


def wait(name):
    while True:
        job = get_job(rt.GetJobRequest(name=name), timeout=10).job
        if job.state in (rt.JOB_STATE_SUCCEEDED, rt.JOB_STATE_FAILED, rt.JOB_STATE_CANCELLED):
            return job
        time.sleep(0.05)


X = [[0.0, 0.1], [0.2, 0.0], [1.0, 0.9], [0.9, 1.1], [0.1, 0.3], [1.2, 1.0]]
y = [0, 0, 1, 1, 0, 1]
parent = "projects/default"
model_name = f"{parent}/models/{model}"

fit = submit(rt.SubmitJobRequest(parent=parent, job=rt.Job(kind=rt.JOB_KIND_FIT, model=model_name, x=rt.JobInput(data=data(X)), y=rt.JobInput(data=data(y)))), timeout=10).job
fitted = wait(fit.name)

new_rows = [{"customer": "ana", "x0": 0.05, "x1": 0.0}, {"customer": "bo", "x0": 1.1, "x1": 1.0}, {"customer": "cy", "x0": 0.5, "x1": 0.6}]
predict = submit(rt.SubmitJobRequest(parent=parent, job=rt.Job(kind=rt.JOB_KIND_PREDICT_PROBA, model=fitted.result.model_version, x=rt.JobInput(data=data(new_rows)), keep_columns=["customer"])), timeout=10).job
messages = list(read_results(rt.ReadJobResultsRequest(name=predict.name, encoding=table_pb2.ROW_ENCODING_JSON), timeout=30))
rows = [json_format.MessageToDict(row) for m in messages for row in m.json.rows]

score = wait(submit(rt.SubmitJobRequest(parent=parent, job=rt.Job(kind=rt.JOB_KIND_SCORE, model=fitted.result.model_version, x=rt.JobInput(data=data(X)), y=rt.JobInput(data=data(y)))), timeout=10).job.name)

try:
    submit(rt.SubmitJobRequest(parent=parent, job=rt.Job(kind=rt.JOB_KIND_PREDICT, model=model_name, x=rt.JobInput(data=data("0.1,0.2")))), timeout=10)
    refused = None
except grpc.RpcError as e:
    refused = {"code": e.code().name, "message": e.details()}

print(json.dumps({
    "fit": {"state": rt.JobState.Name(fitted.state), "model_version": fitted.result.model_version, "x_temporary": fitted.x.temporary, "x_columns": list(fitted.x.columns)},
    "predict": {"name": predict.name, "sequences": [m.sequence for m in messages], "columns": list(messages[0].json.columns), "rows": rows, "state": rt.JobState.Name(wait(predict.name).state)},
    "score": {"state": rt.JobState.Name(score.state), "metrics": dict(score.result.metrics)},
    "refused": refused,
}))

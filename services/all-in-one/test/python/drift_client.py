"""A Python monitoring script on plain grpcio and protoc-generated messages (no SDK): a
dataset's profile, then a comparison of new data with a baseline, drifted columns named,
then a model's drift as a DRIFT job, waited for. Prints one JSON object for the test to check.

Usage: PYTHONPATH=<protoc --python_out dir> python3 drift_client.py HOST:PORT BASELINE TARGET MODEL
"""
import json
import sys
import time

import grpc

from kiln.runtime.v1 import runtime_pb2 as runtime
from kiln.store.v1 import store_pb2 as store

target, baseline, new, model = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
channel = grpc.insecure_channel(target)


def unary(service, method, request_type, response_type):
    return channel.unary_unary(f"/{service}/{method}", request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString)


profile_dataset = unary("kiln.store.v1.StoreService", "ProfileDataset", store.ProfileDatasetRequest, store.ProfileDatasetResponse)
compare_datasets = unary("kiln.store.v1.StoreService", "CompareDatasets", store.CompareDatasetsRequest, store.CompareDatasetsResponse)
submit_job = unary("kiln.runtime.v1.RuntimeService", "SubmitJob", runtime.SubmitJobRequest, runtime.SubmitJobResponse)
get_job = unary("kiln.runtime.v1.RuntimeService", "GetJob", runtime.GetJobRequest, runtime.GetJobResponse)


def selection(name, **kw):
    return store.DatasetSelection(name=f"projects/default/datasets/{name}", **kw)


profile = profile_dataset(store.ProfileDatasetRequest(selection=selection(baseline, columns=["age"])), timeout=30).profile
report = compare_datasets(store.CompareDatasetsRequest(baseline=selection(baseline), target=selection(new), p_value_threshold=0.01), timeout=30)

try:
    compare_datasets(store.CompareDatasetsRequest(baseline=selection(baseline), target=selection(new), psi_threshold=-1), timeout=30)
    refused = None
except grpc.RpcError as e:
    refused = {"code": e.code().name, "message": e.details()}

submitted = submit_job(runtime.SubmitJobRequest(parent="projects/default", job=runtime.Job(
    kind=runtime.JOB_KIND_DRIFT,
    model=f"projects/default/models/{model}",
    x=runtime.JobInput(dataset=f"projects/default/datasets/{new}"),
)), timeout=30).job
job = submitted
deadline = time.time() + 30
while job.state not in (runtime.JOB_STATE_SUCCEEDED, runtime.JOB_STATE_FAILED, runtime.JOB_STATE_CANCELLED) and time.time() < deadline:
    time.sleep(0.1)
    job = get_job(runtime.GetJobRequest(name=submitted.name), timeout=30).job
drift = job.result.drift

print(json.dumps({
    "profile": {"rows": profile.rows, "column": profile.columns[0].name, "kind": store.ColumnKind.Name(profile.columns[0].kind), "mean": profile.columns[0].mean, "median": profile.columns[0].percentiles[50]},
    "drifted": report.drifted,
    "columns": {c.column: {"drifted": c.drifted, "test": c.test, "psi": c.psi, "p_value": c.p_value, "new_values": list(c.new_values)} for c in report.columns},
    "refused": refused,
    "job": {
        "state": runtime.JobState.Name(job.state),
        "baseline": drift.baseline.name,
        "target_rows": drift.target_rows,
        "drifted": drift.drifted,
        "columns": {c.column: c.drifted for c in drift.columns},
        "metrics": dict(job.result.metrics),
    },
}))

"""A Python monitoring script on plain grpcio and protoc-generated messages (no SDK): a
dataset's profile, then a comparison of new data with a baseline, drifted columns named.
Prints one JSON object for the test to check.

Usage: PYTHONPATH=<protoc --python_out dir> python3 drift_client.py HOST:PORT BASELINE TARGET
"""
import json
import sys

import grpc

from kiln.store.v1 import store_pb2 as store

target, baseline, new = sys.argv[1], sys.argv[2], sys.argv[3]
channel = grpc.insecure_channel(target)


def unary(method, request_type, response_type):
    return channel.unary_unary(f"/kiln.store.v1.StoreService/{method}", request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString)


profile_dataset = unary("ProfileDataset", store.ProfileDatasetRequest, store.ProfileDatasetResponse)
compare_datasets = unary("CompareDatasets", store.CompareDatasetsRequest, store.CompareDatasetsResponse)


def selection(name, **kw):
    return store.DatasetSelection(name=f"projects/default/datasets/{name}", **kw)


profile = profile_dataset(store.ProfileDatasetRequest(selection=selection(baseline, columns=["age"])), timeout=30).profile
report = compare_datasets(store.CompareDatasetsRequest(baseline=selection(baseline), target=selection(new), p_value_threshold=0.01), timeout=30)

try:
    compare_datasets(store.CompareDatasetsRequest(baseline=selection(baseline), target=selection(new), psi_threshold=-1), timeout=30)
    refused = None
except grpc.RpcError as e:
    refused = {"code": e.code().name, "message": e.details()}

print(json.dumps({
    "profile": {"rows": profile.rows, "column": profile.columns[0].name, "kind": store.ColumnKind.Name(profile.columns[0].kind), "mean": profile.columns[0].mean, "median": profile.columns[0].percentiles[50]},
    "drifted": report.drifted,
    "columns": {c.column: {"drifted": c.drifted, "test": c.test, "psi": c.psi, "p_value": c.p_value, "new_values": list(c.new_values)} for c in report.columns},
    "refused": refused,
}))

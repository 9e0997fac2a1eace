"""The scikit-learn side of bench/ml: exports the datasets (with fixed train/test
splits) as raw little-endian float64 files, then fits the scikit-learn estimators on
the same splits and prints a JSON report. Runs in Debian's python3 (python3-sklearn).

usage: sklearn_side.py OUT_DIR [--quick] [--only Kind,Kind]
"""
import json
import warnings
import sys
import time

import numpy as np
from sklearn import cluster, datasets, decomposition, ensemble, linear_model, neural_network, preprocessing, tree
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split

warnings.filterwarnings("ignore")  # convergence warnings at the benchmark's fixed max_iter are expected
out_dir = sys.argv[1]
quick = "--quick" in sys.argv
only = set(sys.argv[sys.argv.index("--only") + 1].split(",")) if "--only" in sys.argv else None
big_rows = 20_000 if quick else 100_000


def load():
    iris = datasets.load_iris(return_X_y=True)
    cancer = datasets.load_breast_cancer(return_X_y=True)
    digits = datasets.load_digits(return_X_y=True)
    diabetes = datasets.load_diabetes(return_X_y=True)
    synth_cls = datasets.make_classification(n_samples=big_rows, n_features=50, n_informative=20, n_classes=3, random_state=0)
    synth_reg = datasets.make_regression(n_samples=big_rows, n_features=50, n_informative=30, noise=10.0, random_state=0)
    return {
        "iris": ("classification", *iris),
        "breast_cancer": ("classification", *cancer),
        "digits": ("classification", *digits),
        "synth_cls": ("classification", *synth_cls),
        "diabetes": ("regression", *diabetes),
        "synth_reg": ("regression", *synth_reg),
    }


def export(data):
    meta = {}
    for name, (task, X, y) in data.items():
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
        for part, arr in [("X_train", X_train), ("X_test", X_test), ("y_train", y_train), ("y_test", y_test)]:
            np.ascontiguousarray(arr, dtype="<f8").tofile(f"{out_dir}/{name}.{part}.f64")
        meta[name] = {"task": task, "cols": X.shape[1], "train": len(y_train), "test": len(y_test)}
        data[name] = (task, X_train, X_test, y_train, y_test)
    with open(f"{out_dir}/datasets.json", "w") as f:
        json.dump(meta, f)


big_trees = 20 if quick else 50
ESTIMATORS = {
    "classification": {
        "LogisticRegression": lambda: linear_model.LogisticRegression(max_iter=1000),
        "SGDClassifier": lambda: linear_model.SGDClassifier(random_state=0),
        "DecisionTreeClassifier": lambda: tree.DecisionTreeClassifier(random_state=0),
        "RandomForestClassifier": lambda: ensemble.RandomForestClassifier(n_estimators=big_trees, random_state=0),
        "GradientBoostingClassifier": lambda: ensemble.HistGradientBoostingClassifier(max_iter=100, random_state=0),
        "MLPClassifier": lambda: neural_network.MLPClassifier(max_iter=50, random_state=0),
    },
    "regression": {
        "LinearRegression": lambda: linear_model.LinearRegression(),
        "Ridge": lambda: linear_model.Ridge(alpha=1.0),
        "Lasso": lambda: linear_model.Lasso(alpha=0.1),
        "SGDRegressor": lambda: linear_model.SGDRegressor(random_state=0),
        "DecisionTreeRegressor": lambda: tree.DecisionTreeRegressor(random_state=0),
        "RandomForestRegressor": lambda: ensemble.RandomForestRegressor(n_estimators=big_trees, random_state=0),
        "GradientBoostingRegressor": lambda: ensemble.HistGradientBoostingRegressor(max_iter=100, random_state=0),
        "MLPRegressor": lambda: neural_network.MLPRegressor(max_iter=50, random_state=0),
    },
    "unsupervised": {
        "KMeans": lambda seed=0: cluster.KMeans(n_clusters=8, n_init=1, random_state=seed),
        "MiniBatchKMeans": lambda seed=0: cluster.MiniBatchKMeans(n_clusters=8, n_init=1, random_state=seed),
        "PCA": lambda: decomposition.PCA(n_components=10),
        "StandardScaler": lambda: preprocessing.StandardScaler(),
        "MinMaxScaler": lambda: preprocessing.MinMaxScaler(),
    },
}


SEEDED = ("KMeans", "MiniBatchKMeans")
WARM_UP_BELOW_ROWS = 10_000
SEEDS = [0, 1, 2, 3, 4]


def unsupervised_score(kind, model, X_test):
    if kind in ("KMeans", "MiniBatchKMeans"):
        return float(model.score(X_test))  # minus the inertia on the test rows, as Kiln reports it
    if kind == "PCA":
        return float(np.sum(model.explained_variance_ratio_))
    return None


def run(data):
    results = []
    for name, (task, X_train, X_test, y_train, y_test) in data.items():
        groups = [(task, ESTIMATORS[task])]
        if name in ("synth_cls", "digits"):
            groups.append(("unsupervised", ESTIMATORS["unsupervised"]))
        for group, estimators in groups:
            for kind, make in estimators.items():
                if only and kind not in only:
                    continue
                # k-means: how many iterations a fit takes depends on its random start (44 to 145
                # here by seed), so its time is the sum over the same SEEDS on both sides.
                # Small sets get one untimed warm-up fit first, as on the Kiln side (where a
                # first fit in the process runs code not yet compiled).
                seconds = 0.0
                warm = len(X_train) < WARM_UP_BELOW_ROWS
                for seed in reversed(SEEDS if kind in SEEDED else [0]):
                    for timed in ([False, True] if warm else [True]):
                        model = make(seed) if kind in SEEDED else make()
                        start = time.perf_counter()
                        if group == "unsupervised":
                            model.fit(X_train)
                        else:
                            model.fit(X_train, y_train)
                        if timed:
                            seconds += time.perf_counter() - start
                if group == "classification":
                    score = accuracy_score(y_test, model.predict(X_test))
                elif group == "regression":
                    score = r2_score(y_test, model.predict(X_test))
                else:
                    score = unsupervised_score(kind, model, X_test)
                results.append({"dataset": name, "kind": kind, "fit_seconds": seconds, "score": score})
                print(f"sklearn {name:14} {kind:28} {seconds:8.3f}s", file=sys.stderr)
    return results


data = load()
export(data)
print(json.dumps({"sklearn": __import__("sklearn").__version__, "results": run(data)}))

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
        "LogisticRegression": lambda seed: linear_model.LogisticRegression(max_iter=1000),
        "SGDClassifier": lambda seed: linear_model.SGDClassifier(random_state=seed),
        "DecisionTreeClassifier": lambda seed: tree.DecisionTreeClassifier(random_state=seed),
        "RandomForestClassifier": lambda seed: ensemble.RandomForestClassifier(n_estimators=big_trees, random_state=seed),
        "GradientBoostingClassifier": lambda seed: ensemble.HistGradientBoostingClassifier(max_iter=100, random_state=seed),
        "MLPClassifier": lambda seed: neural_network.MLPClassifier(max_iter=50, random_state=seed),
    },
    "regression": {
        "LinearRegression": lambda seed: linear_model.LinearRegression(),
        "Ridge": lambda seed: linear_model.Ridge(alpha=1.0),
        "Lasso": lambda seed: linear_model.Lasso(alpha=0.1),
        "SGDRegressor": lambda seed: linear_model.SGDRegressor(random_state=seed),
        "DecisionTreeRegressor": lambda seed: tree.DecisionTreeRegressor(random_state=seed),
        "RandomForestRegressor": lambda seed: ensemble.RandomForestRegressor(n_estimators=big_trees, random_state=seed),
        "GradientBoostingRegressor": lambda seed: ensemble.HistGradientBoostingRegressor(max_iter=100, random_state=seed),
        "MLPRegressor": lambda seed: neural_network.MLPRegressor(max_iter=50, random_state=seed),
    },
    "unsupervised": {
        "KMeans": lambda seed: cluster.KMeans(n_clusters=8, n_init=1, random_state=seed),
        "MiniBatchKMeans": lambda seed: cluster.MiniBatchKMeans(n_clusters=8, n_init=1, random_state=seed),
        "PCA": lambda seed: decomposition.PCA(n_components=10),
        "StandardScaler": lambda seed: preprocessing.StandardScaler(),
        "MinMaxScaler": lambda seed: preprocessing.MinMaxScaler(),
    },
}


# Fitted with each of SEEDS, time summed and score averaged: k-means everywhere (how many
# iterations a fit takes depends on its random start: 44 to 145 here by seed), and on the
# small sets every estimator whose model depends on its seed (on a few hundred test rows one
# seed's score is luck: a row of iris is 2.6 points).
SEEDED = ("KMeans", "MiniBatchKMeans")
SEEDED_WHEN_SMALL = SEEDED + ("SGDClassifier", "SGDRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor", "RandomForestClassifier", "RandomForestRegressor", "MLPClassifier", "MLPRegressor")
SEEDS = [0, 1, 2, 3, 4]
# Fits are timed as timeit does, on both sides (see ml.mjs), the median of repeats: small
# sets one untimed fit, then at least 3 fits and SMALL_REPEAT_SECONDS; large sets fits until 3
# are done or LARGE_REPEAT_SECONDS have passed.
SMALL_BELOW_ROWS = 10_000
SMALL_REPEAT_SECONDS = 0.3
LARGE_REPEAT_SECONDS = 3
REPEAT_MAX = 30


def fit_seconds(fit, small):
    """The seconds of one fit (fit() makes a fresh model, fits and returns it) and the last model."""
    model = fit() if small else None
    times = []
    began = time.perf_counter()

    def more():
        elapsed = time.perf_counter() - began
        if small:
            return len(times) < 3 or (len(times) < REPEAT_MAX and elapsed < SMALL_REPEAT_SECONDS)
        return len(times) < 3 and (not times or elapsed < LARGE_REPEAT_SECONDS)

    while more():
        start = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), model


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
                small = len(X_train) < SMALL_BELOW_ROWS
                seeds = SEEDS if kind in (SEEDED_WHEN_SMALL if small else SEEDED) else [0]
                seconds = 0.0
                scores = []
                for seed in reversed(seeds):
                    def fit():
                        model = make(seed)
                        return model.fit(X_train) if group == "unsupervised" else model.fit(X_train, y_train)

                    took, model = fit_seconds(fit, small)
                    seconds += took
                    if group == "classification":
                        scores.append(accuracy_score(y_test, model.predict(X_test)))
                    elif group == "regression":
                        scores.append(r2_score(y_test, model.predict(X_test)))
                    else:
                        scores.append(unsupervised_score(kind, model, X_test))
                score = None if scores[0] is None else float(np.mean(scores))
                score_range = None if scores[0] is None else [float(min(scores)), float(max(scores))]
                results.append({"dataset": name, "kind": kind, "seeds": len(seeds), "fit_seconds": seconds, "score": score, "score_range": score_range})
                print(f"sklearn {name:14} {kind:28} {seconds:8.3f}s", file=sys.stderr)
    return results


data = load()
export(data)
print(json.dumps({"sklearn": __import__("sklearn").__version__, "results": run(data)}))

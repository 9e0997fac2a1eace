import { registerEstimator } from "./catalog.js";
import { PCA } from "./decomposition/pca.js";
import type { Estimator, TrainingCallback } from "./estimator.js";
import { Lasso } from "./linear/lasso.js";
import { LinearRegression } from "./linear/linear-regression.js";
import { LogisticRegression } from "./linear/logistic-regression.js";
import { Ridge } from "./linear/ridge.js";
import { SGDClassifier } from "./linear/sgd-classifier.js";
import { SGDRegressor } from "./linear/sgd-regressor.js";
import { MinMaxScaler } from "./preprocessing/min-max-scaler.js";
import { OneHotEncoder } from "./preprocessing/one-hot-encoder.js";
import { SimpleImputer } from "./preprocessing/simple-imputer.js";
import { StandardScaler } from "./preprocessing/standard-scaler.js";

type Constructor = new (params: Record<string, unknown>) => Estimator;

/**
 * The linear models and transformers by name, for createEstimator (workers, the
 * runtime, bench/ml); trees, ensembles, clustering and networks register themselves.
 */
const plain: Record<string, unknown> = { LinearRegression, Ridge, Lasso, LogisticRegression, PCA, StandardScaler, MinMaxScaler, OneHotEncoder, SimpleImputer };

/** Estimators that train iteratively and report each epoch through `onEpoch`. */
const iterative: Record<string, unknown> = { SGDClassifier, SGDRegressor };

for (const [kind, C] of Object.entries(plain)) registerEstimator(kind, (params) => new (C as Constructor)(params));
for (const [kind, C] of Object.entries(iterative)) {
  registerEstimator(kind, (params, onEpoch?: TrainingCallback) => new (C as Constructor)(onEpoch ? { ...params, onEpoch } : params));
}

export { LinearRegression, type LinearRegressionParams } from "./linear-regression.js";
export { Ridge, type RidgeParams } from "./ridge.js";
export { Lasso, type LassoParams } from "./lasso.js";
export { LogisticRegression, type LogisticRegressionParams } from "./logistic-regression.js";
export { SGDClassifier, type SGDClassifierParams } from "./sgd-classifier.js";
export { SGDRegressor, type SGDRegressorParams } from "./sgd-regressor.js";
export type { LearningRate } from "./sgd-epoch.js";

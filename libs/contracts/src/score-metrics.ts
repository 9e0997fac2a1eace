/**
 * Metrics a SCORE job can be asked for (params.metrics), by sklearn's scorer names. f1,
 * precision and recall are of the greater of two labels (1, "yes"); _macro and _weighted
 * average over the classes. roc_auc and log_loss read the model's probabilities (roc_auc of
 * more than two classes one-vs-rest, macro). "all" is MLflow evaluate's default set.
 */
export const CLASSIFIER_METRICS = ["accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro", "precision_weighted", "recall_weighted", "f1_weighted", "roc_auc", "log_loss"] as const;
export const REGRESSOR_METRICS = ["r2", "mse", "rmse", "mae", "max_error", "mape"] as const;
export const SCORE_METRICS: readonly string[] = [...CLASSIFIER_METRICS, ...REGRESSOR_METRICS];
/** Metrics whose smaller values are better (grid searches rank them so). */
export const LOWER_IS_BETTER_METRICS: readonly string[] = ["mse", "rmse", "mae", "max_error", "mape", "log_loss", "inertia"];

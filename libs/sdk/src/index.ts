export { Kiln, DEFAULT_URL, type ConnectOptions } from "./client.js";
export { Datasets, CHUNK_BYTES, type PutOptions, type ReadOptions, type DatasetValue, type LentBatches, type WriteModeName } from "./datasets.js";
export { Models, type PutModelOptions, type DownloadedModel } from "./models.js";
export type { ModelSource } from "./model-sources.js";
export type { LineageInput } from "./model-lineage.js";
export type { ModelInfo, ModelVersionInfo, TensorSignature, OnnxModelInfo, LineageInfo, AttachmentInfo } from "./model-summaries.js";
export type { TensorData, DatasetInput, KindName } from "./inputs.js";
export type { DatasetInfo, VersionInfo } from "./summaries.js";
export { datasetSelection, parseDatasetRef, type DatasetRef, type DatasetSpec } from "./dataset-refs.js";
export { driftMetrics, selectionText, type DatasetSelectionInfo, type DatasetProfile, type DriftReport, type DriftOptions, type ColumnProfile, type ColumnDrift } from "./drift.js";
export { trainingBaseline, type ModelDriftReport } from "./model-drift.js";
export { explainParams, explanationMethodText, type ExplainMethod, type ExplainOptions, type Explanation, type JobExplanationInfo, type ExplainedOutputInfo, type FeatureImportanceInfo } from "./explain.js";
export type { Progress, ProgressListener } from "./transfer.js";
export { prefetchInOrder, type LocalChunkReader } from "./chunk-fetch.js";
export type { JsonObject, JsonValue } from "@bufbuild/protobuf";
export * from "./errors.js";
export { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
export { Runtime, RuntimeModel, JobHandle, hasResultRows, driftParams, type DriftJobOptions, type JobData, type LocalJobData, type JobOptions, type JobOutcome, type FitOutcome, type Metrics, type JobSpec, type PurgeOptions, type JobRef } from "./runtime.js";
export { Schedules, type ScheduleSpec, type ScheduleInfo } from "./schedules.js";
export {
  InferenceGraphs,
  graphMessage,
  graphStepText,
  graphNodeText,
  graphDeployments,
  type InferenceGraphSpec,
  type InferenceGraphInfo,
  type GraphNodeSpec,
  type GraphStepSpec,
  type GraphStepAnswer,
  type RouterTypeName,
  type CombineName,
  type StepDataName,
  type StepKindName,
} from "./inference-graphs.js";
export { Webhooks, type WebhookSpec, type WebhookInfo, type WebhookTest, type WebhookDeliveryInfo } from "./webhooks.js";
export type { ScheduledJobSpec } from "./runtime.js";
export { Deployments, type DeploymentAutoscaling, type DeploymentExplainer, type DeploymentInfo, type DeploymentSpec, type DeploymentStateName, type DeployOptions, type OnlinePredictOptions } from "./deployments.js";
export { paramGrid, type GridSearchOptions, type GridSearchResult, type GridCandidate } from "./grid-search.js";
export type { JobInfo, JobDriftInfo, ExecutorInfo, JobErrorInfo, JobKindName, JobStateName } from "./job-summaries.js";
export type { TrainedEstimator } from "./model-estimators.js";
export { Tracking, Experiment, TrackedRun, eventValue, serviceProvider, type ExperimentOptions, type ExperimentInfo, type RunInfo, type RunSummaryInfo } from "./tracking.js";
export { notrack, profiling, type TrackingProvider, type RunSink, type EventInput } from "./tracking-providers.js";
export type { DataQuery, EventRow, MetricHistoryPoint } from "./tracking-query.js";
export { spansInTreeOrder, type TraceSummary, type TraceDetail, type TraceSpanInfo, type TraceAssessmentInfo } from "./traces.js";

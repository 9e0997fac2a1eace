export * from "./types.js";
export { TableProfiler } from "./table-profiler.js";
export { columnKind, MAX_TRACKED_VALUES } from "./column-profiler.js";
export { SAMPLE_SIZE } from "./sample.js";
export { compareProfiles, psi, thresholdProblem, DEFAULT_PSI_THRESHOLD, type DriftOptions, type DriftReportData, type ColumnDriftData } from "./drift.js";
export { ksPValue, chiSquaredPValue } from "./distributions.js";

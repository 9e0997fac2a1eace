/**
 * Tracking events other services publish (executors tracking runtime jobs), as
 * IngestBatch messages on `${INGEST_SUBJECT_PREFIX}.{token}`; the tracking service stores them.
 */
export const INGEST_STREAM = { name: "KILN_TRACKING", subjects: ["kiln.tracking.>"] };
export const INGEST_SUBJECT_PREFIX = "kiln.tracking.v1.ingest";

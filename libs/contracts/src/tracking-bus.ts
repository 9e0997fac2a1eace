/**
 * Tracking events other services publish (executors tracking runtime jobs), as
 * IngestBatch messages on `${INGEST_SUBJECT_PREFIX}.{token}`; the tracking service stores them.
 * They are data, not notices, so they wait a week for a tracking service that is down
 * rather than KILN_EVENTS_TTL_MS.
 */
export const INGEST_STREAM = { name: "KILN_TRACKING", subjects: ["kiln.tracking.>"], maxAgeMs: 7 * 86_400_000 };
export const INGEST_SUBJECT_PREFIX = "kiln.tracking.v1.ingest";

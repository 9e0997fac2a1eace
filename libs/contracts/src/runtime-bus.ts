/** The work queues: one subject per set of required labels under this prefix (see the scheduler's queues). */
export const QUEUE_STREAM = { name: "KILN_RUNTIME_QUEUE", subjects: ["kiln.runtime.v1.queue.>"], retention: "workqueue" as const };

/** Result chunks of a job, on `${RESULTS_SUBJECT_PREFIX}.${jobId}`, kept for KILN_RESULTS_TTL_MS. */
export const RESULTS_SUBJECT_PREFIX = "kiln.runtime.v1.results";
export const RESULTS_STREAM = { name: "KILN_RUNTIME_RESULTS", subjects: [`${RESULTS_SUBJECT_PREFIX}.>`] };
/** Headers of a result message: its sequence number, and on the closing message the chunk count. */
export const SEQ_HEADER = "Kiln-Seq";
export const END_HEADER = "Kiln-End";

/**
 * Rows an online prediction carries each way (request and answer, as Arrow IPC): NATS takes
 * messages of up to 1 MiB with their framing. More rows go to a predict job.
 */
export const MAX_ONLINE_ROWS_BYTES = 1000 * 1024;

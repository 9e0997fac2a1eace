import { Code, ConnectError } from "@connectrpc/connect";
import { errorMetadata, errorReason, KilnError, notFound } from "@kiln/core";
import { codeName, codeOf } from "@kiln/contracts";
import { create } from "@bufbuild/protobuf";
import { JobErrorSchema, JobState, type Job, type JobError } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

/** An error one item of a batch call met, for its place in the answer; unexpected errors say only "internal error". */
export function itemError(e: Error): JobError {
  if (e instanceof KilnError) return create(JobErrorSchema, { code: codeName(e.code), reason: e.reason, message: e.message });
  return create(JobErrorSchema, { code: "INTERNAL", reason: "INTERNAL", message: "internal error" });
}

/** A failed or cancelled job's error as the error of a call that waited on it, worded as the SDK words a failed `get()`. */
export function jobFailure(job: Job): KilnError {
  const id = job.name.slice(job.name.lastIndexOf("/") + 1);
  const state = job.state === JobState.CANCELLED ? "cancelled" : "failed";
  return new KilnError(codeOf(job.error?.code ?? "UNKNOWN"), job.error?.reason || "JOB_FAILED", `job ${id} ${state}: ${job.error?.message || "no reason given"}`, { job: job.name });
}

/** Errors from the store and registry keep their code (NotFound stays NotFound) and message. */
export function rethrowRemote(e: unknown): never {
  if (e instanceof ConnectError && e.code === Code.NotFound) throw notFound(errorReason(e) ?? "NOT_FOUND", e.rawMessage, errorMetadata(e));
  throw e;
}

import { Code } from "@connectrpc/connect";
import { KilnError } from "@kiln/core";
import { create } from "@bufbuild/protobuf";
import { JobErrorSchema, JobState, type Job, type JobError } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

/** "FAILED_PRECONDITION" → Code.FailedPrecondition; unknown names → Unknown. */
export function codeOf(name: string): Code {
  if (name === "CANCELLED") return Code.Canceled;
  const pascal = name.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code>)[pascal];
  return typeof code === "number" ? code : Code.Unknown;
}

/** Code.FailedPrecondition → "FAILED_PRECONDITION" (Canceled → "CANCELLED"): the inverse of codeOf. */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

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

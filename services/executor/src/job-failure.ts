import { Code, ConnectError } from "@connectrpc/connect";
import { KilnError, errorReason } from "@kiln/core";
import { KilnApiError } from "@kiln/sdk";
import { codeName } from "@kiln/contracts";
import { InvalidInputError, MLError, ModelFormatError, NotFittedError } from "@kiln/ml";
import { OnnxFormatError, OnnxRunError } from "@kiln/onnx";
import { create } from "@bufbuild/protobuf";
import { JobErrorSchema, type JobError } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

/** Why an attempt failed, and whether another attempt could succeed. */
export class JobFailure extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
    message: string,
    readonly retryable = false,
  ) {
    super(message);
    this.name = "JobFailure";
  }
}

export const failedPrecondition = (reason: string, message: string) => new JobFailure("FAILED_PRECONDITION", reason, message);
export const invalidInput = (reason: string, message: string) => new JobFailure("INVALID_ARGUMENT", reason, message);

/** The stop asked for: the job was cancelled (or superseded), or ran out of time. */
export class Stopped extends Error {
  constructor(readonly why: "cancelled" | "timeout" | "shutdown") {
    super(why === "timeout" ? "the job ran out of time" : why === "shutdown" ? "the executor is stopping" : "the job was cancelled");
    this.name = "Stopped";
  }
}

/** Worth another attempt: the failure was in the surroundings, not in the job. */
const TRANSIENT = new Set([Code.Unavailable, Code.Aborted, Code.DeadlineExceeded, Code.Internal, Code.Unknown]);

/** Any error a job threw, as the error recorded on its attempt. */
export function toJobFailure(e: unknown): JobFailure {
  if (e instanceof JobFailure) return e;
  if (e instanceof KilnError || e instanceof KilnApiError) return remote(e.code, e.reason, e.message);
  if (e instanceof ConnectError) return remote(e.code, errorReason(e), e.rawMessage);
  if (e instanceof InvalidInputError) return new JobFailure("INVALID_ARGUMENT", e.reason ?? "INVALID_INPUT", e.message);
  if (e instanceof NotFittedError || e instanceof ModelFormatError) return new JobFailure("FAILED_PRECONDITION", "MODEL_UNUSABLE", e.message);
  if (e instanceof OnnxFormatError || e instanceof OnnxRunError) return new JobFailure("FAILED_PRECONDITION", "ONNX_RUN_FAILED", e.message);
  if (e instanceof MLError) return new JobFailure("INVALID_ARGUMENT", e.reason ?? "TRAINING_FAILED", e.message);
  return new JobFailure("INTERNAL", "EXECUTOR_ERROR", (e as Error)?.message ?? String(e), true);
}

export function jobErrorOf(f: JobFailure): JobError {
  return create(JobErrorSchema, { code: f.code, reason: f.reason, message: f.message });
}

function remote(code: Code, reason: string | undefined, message: string): JobFailure {
  return new JobFailure(codeName(code), reason ?? "REMOTE_ERROR", message, TRANSIENT.has(code));
}

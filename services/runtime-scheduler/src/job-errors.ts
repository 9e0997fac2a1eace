import { Code } from "@connectrpc/connect";
import { KilnError } from "@kiln/core";
import type { JobError } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

/** "FAILED_PRECONDITION" → Code.FailedPrecondition; unknown names → Unknown. */
export function codeOf(name: string): Code {
  if (name === "CANCELLED") return Code.Canceled;
  const pascal = name.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code>)[pascal];
  return typeof code === "number" ? code : Code.Unknown;
}

/** A failed or cancelled job's error as the error of a call that waited on it. */
export function jobFailure(name: string, error: JobError | undefined): KilnError {
  return new KilnError(codeOf(error?.code ?? "UNKNOWN"), error?.reason || "JOB_FAILED", `job ${name}: ${error?.message || "failed"}`, { job: name });
}

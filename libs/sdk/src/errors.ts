import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@kiln/proto/google/rpc/error_details_pb";

/** Every error the SDK throws for a failed call; `reason` is the server's stable ErrorInfo reason. */
export class KilnApiError extends Error {
  constructor(
    message: string,
    readonly code: Code,
    readonly reason: string | undefined,
    readonly metadata: Record<string, string>,
    override readonly cause?: unknown,
  ) {
    super(message);
    // Each subclass names itself as a literal too: a minifying bundler renames classes, and `name` is how callers tell errors apart.
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends KilnApiError {
  override name = "InvalidArgumentError";
}
export class NotFoundError extends KilnApiError {
  override name = "NotFoundError";
}
export class AlreadyExistsError extends KilnApiError {
  override name = "AlreadyExistsError";
}
export class FailedPreconditionError extends KilnApiError {
  override name = "FailedPreconditionError";
}
export class ResourceExhaustedError extends KilnApiError {
  override name = "ResourceExhaustedError";
}
export class PermissionDeniedError extends KilnApiError {
  override name = "PermissionDeniedError";
}
export class UnauthenticatedError extends KilnApiError {
  override name = "UnauthenticatedError";
}
export class UnavailableError extends KilnApiError {
  override name = "UnavailableError";
}
export class DataLossError extends KilnApiError {
  override name = "DataLossError";
}
export class AbortedError extends KilnApiError {
  override name = "AbortedError";
}
export class DeadlineExceededError extends KilnApiError {
  override name = "DeadlineExceededError";
}
export class CancelledError extends KilnApiError {
  override name = "CancelledError";
}
export class InternalError extends KilnApiError {
  override name = "InternalError";
}

const byCode: Partial<Record<Code, typeof KilnApiError>> = {
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.NotFound]: NotFoundError,
  [Code.AlreadyExists]: AlreadyExistsError,
  [Code.FailedPrecondition]: FailedPreconditionError,
  [Code.ResourceExhausted]: ResourceExhaustedError,
  [Code.PermissionDenied]: PermissionDeniedError,
  [Code.Unauthenticated]: UnauthenticatedError,
  [Code.Unavailable]: UnavailableError,
  [Code.DataLoss]: DataLossError,
  [Code.Aborted]: AbortedError,
  [Code.DeadlineExceeded]: DeadlineExceededError,
  [Code.Canceled]: CancelledError,
};

/** The typed error for a code, e.g. a failed job's error as seen by a caller waiting on it. */
export function apiError(code: Code, message: string, reason?: string, metadata: Record<string, string> = {}): KilnApiError {
  const Type = byCode[code] ?? InternalError;
  return new Type(message, code, reason, metadata);
}

/** Turns a ConnectError into the matching typed error; anything else passes through. */
export function toApiError(e: unknown): unknown {
  if (e instanceof KilnApiError || !(e instanceof ConnectError)) return e;
  // A call whose request stream failed on this side (e.g. a chunk's PUT refused) ends Internal; the failure itself says more.
  if (e.cause instanceof KilnApiError) return e.cause;
  const info = e.findDetails(ErrorInfoSchema)[0];
  const Type = byCode[e.code] ?? InternalError;
  return new Type(e.rawMessage, e.code, info?.reason, info ? { ...info.metadata } : {}, e);
}

/** Runs a call and rethrows failures as typed errors. */
export async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toApiError(e);
  }
}

/** Iterates a server stream, rethrowing failures as typed errors. */
export async function* stream<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (e) {
    throw toApiError(e);
  }
}

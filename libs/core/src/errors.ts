import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "@kiln/proto/google/rpc/error_details_pb";

export const ERROR_DOMAIN = "kiln.dev";

/**
 * The one error type internal code throws. It carries the Connect code and a stable
 * AIP-193 reason; the RPC edge turns it into a ConnectError with ErrorInfo once.
 */
export class KilnError extends Error {
  constructor(
    readonly code: Code,
    readonly reason: string,
    message: string,
    readonly metadata: Record<string, string> = {},
  ) {
    super(message);
    this.name = "KilnError";
  }
}

const make = (code: Code) => (reason: string, message: string, metadata?: Record<string, string>) =>
  new KilnError(code, reason, message, metadata);

export const invalidArgument = make(Code.InvalidArgument);
export const notFound = make(Code.NotFound);
export const alreadyExists = make(Code.AlreadyExists);
export const failedPrecondition = make(Code.FailedPrecondition);
export const resourceExhausted = make(Code.ResourceExhausted);
export const aborted = make(Code.Aborted);
export const dataLoss = make(Code.DataLoss);
export const unavailable = make(Code.Unavailable);
export const internal = make(Code.Internal);
export const unauthenticated = make(Code.Unauthenticated);
export const permissionDenied = make(Code.PermissionDenied);
export const unimplemented = make(Code.Unimplemented);

export function isKilnError(e: unknown, code?: Code): e is KilnError {
  return e instanceof KilnError && (code === undefined || e.code === code);
}

/**
 * Maps anything thrown inside a handler to what goes over the wire: KilnErrors keep
 * their code and reason, ConnectErrors pass through, anything else becomes Internal
 * with a generic message (the details go to the log, never to the caller).
 */
export function toConnectError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof KilnError) {
    return new ConnectError(e.message, e.code, undefined, [
      { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: e.reason, domain: ERROR_DOMAIN, metadata: e.metadata }) },
    ]);
  }
  return new ConnectError("internal error", Code.Internal);
}

/** The ErrorInfo reason attached to a ConnectError, if any. */
export function errorReason(e: ConnectError): string | undefined {
  return e.findDetails(ErrorInfoSchema)[0]?.reason;
}

/** The ErrorInfo metadata attached to a ConnectError (what it is about: a dataset, a model...). */
export function errorMetadata(e: ConnectError): Record<string, string> {
  return e.findDetails(ErrorInfoSchema)[0]?.metadata ?? {};
}

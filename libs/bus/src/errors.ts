import { failedPrecondition, internal, invalidArgument, KilnError, notFound, unavailable } from "@kiln/core";

// One set of reasons for both backends, so callers and the conformance suite match on them.

export const streamNotFound = (stream: string): KilnError =>
  notFound("STREAM_NOT_FOUND", `stream ${stream} not found`, { stream });

export const consumerNotFound = (stream: string, durable: string): KilnError =>
  notFound("CONSUMER_NOT_FOUND", `consumer ${durable} not found on stream ${stream}`, { stream, durable });

export const noStreamForSubject = (subject: string): KilnError =>
  notFound("NO_STREAM_FOR_SUBJECT", `no stream holds subject ${subject}`, { subject });

export const streamConflict = (stream: string, detail: string): KilnError =>
  failedPrecondition("STREAM_CONFIG_CONFLICT", `stream ${stream}: ${detail}`, { stream });

export const consumerConflict = (stream: string, durable: string, detail: string): KilnError =>
  failedPrecondition("CONSUMER_CONFIG_CONFLICT", `consumer ${durable} on stream ${stream}: ${detail}`, {
    stream,
    durable,
  });

export const busClosed = (): KilnError => unavailable("BUS_CLOSED", "the event bus is closed");

export const busUnavailable = (detail: string): KilnError => unavailable("BUS_UNAVAILABLE", detail);

export const filterOutsideStream = (stream: string, filter: string): KilnError =>
  invalidArgument("FILTER_NOT_IN_STREAM", `filter ${filter} matches no subject of stream ${stream}`, { stream, filter });

export const noResponders = (subject: string): KilnError =>
  unavailable("NO_RESPONDERS", `no responder for ${subject}`, { subject });

// @kiln/core has no helper for this code; gRPC's DEADLINE_EXCEEDED is 4 (Code.DeadlineExceeded in
// @connectrpc/connect, which the bus does not depend on), typed here through KilnError's own field.
const DEADLINE_EXCEEDED = 4 as KilnError["code"];

export const requestTimeout = (subject: string, timeoutMs: number): KilnError =>
  new KilnError(DEADLINE_EXCEEDED, "REQUEST_TIMEOUT", `no reply to a request to ${subject} within ${timeoutMs} ms`, {
    subject,
  });

/** `detail` is the handler's error message only: its stack stays with the responder. */
export const responderFailed = (subject: string, detail: string): KilnError =>
  internal("RESPONDER_FAILED", `responder for ${subject} failed: ${detail}`, { subject });

export const invalidTimeout = (timeoutMs: number): KilnError =>
  invalidArgument("INVALID_TIMEOUT", `timeoutMs must be positive, got ${timeoutMs}`);

export const invalidRequest = (subject: string, detail: string): KilnError =>
  invalidArgument("INVALID_REQUEST", `request to ${subject}: ${detail}`, { subject });

import { failedPrecondition, invalidArgument, notFound, unavailable, type KilnError } from "@kiln/core";

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

import { JetStreamApiError } from "@nats-io/jetstream";
import { NoRespondersError, RequestError, TimeoutError } from "@nats-io/transport-node";
import {
  consumerConflict,
  consumerNotFound,
  filterOutsideStream,
  streamConflict,
  streamNotFound,
} from "./errors.js";

// JetStream API error codes (server/errors.json) that we turn into the bus's own errors.
export const STREAM_NOT_FOUND = 10059;
export const CONSUMER_NOT_FOUND = 10014;
export const CONSUMER_EXISTS = 10148;
const STREAM_CONFLICT = new Set([10052 /* retention change */, 10058 /* name in use, other config */, 10065 /* subjects overlap */]);
const CONSUMER_CONFLICT = new Set([
  10012 /* deliver policy cannot be updated */,
  10099 /* several unfiltered consumers on a work queue */,
  10100 /* filter not unique on a work queue */,
  10101 /* work-queue consumer must deliver all */,
  CONSUMER_EXISTS /* exists with another config (2.10+) */,
]);
const FILTER_NOT_SUBSET = 10093;

export interface ErrorContext {
  stream: string;
  durable?: string;
  filter?: string;
}

/** The bus error for a JetStream API error, or the error itself when we have no better name for it. */
export function fromJetStream(e: unknown, ctx: ErrorContext): unknown {
  if (!(e instanceof JetStreamApiError)) return e;
  const detail = e.message;
  if (e.code === STREAM_NOT_FOUND) return streamNotFound(ctx.stream);
  if (e.code === CONSUMER_NOT_FOUND) return consumerNotFound(ctx.stream, ctx.durable ?? "");
  if (STREAM_CONFLICT.has(e.code)) return streamConflict(ctx.stream, detail);
  if (CONSUMER_CONFLICT.has(e.code)) return consumerConflict(ctx.stream, ctx.durable ?? "", detail);
  if (e.code === FILTER_NOT_SUBSET) return filterOutsideStream(ctx.stream, ctx.filter ?? "");
  return e;
}

export function isJetStreamCode(e: unknown, code: number): boolean {
  return e instanceof JetStreamApiError && e.code === code;
}

export function isTimeout(e: unknown): boolean {
  return e instanceof TimeoutError || (e instanceof Error && e.cause instanceof TimeoutError);
}

/** nats.js reports "no responders" bare or wrapped (as JetStreamNotEnabled) depending on the call. */
export function isNoResponders(e: unknown): boolean {
  const cause = e instanceof Error ? e.cause : undefined;
  return [e, cause].some(
    (x) => x instanceof NoRespondersError || (x instanceof RequestError && x.isNoResponders()),
  );
}

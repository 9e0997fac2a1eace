import { invalidArgument } from "@kiln/core";
import type { ConsumerConfig } from "./bus.js";
import { checkName, checkSubject } from "./subjects.js";

/** A ConsumerConfig with defaults applied and values checked, shared by both backends. */
export interface ConsumerSettings {
  stream: string;
  durable: string;
  filterSubject?: string;
  deliverPolicy: "all" | "new";
  ackWaitMs: number;
  /** -1: no limit. */
  maxDeliver: number;
}

export const DEFAULT_ACK_WAIT_MS = 30_000;

export function consumerSettings(config: ConsumerConfig): ConsumerSettings {
  checkName("stream", config.stream);
  checkName("durable", config.durable);
  if (config.filterSubject !== undefined) checkSubject(config.filterSubject, true);
  const ackWaitMs = config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  if (!Number.isFinite(ackWaitMs) || ackWaitMs <= 0) {
    throw invalidArgument("INVALID_CONSUMER_CONFIG", `ackWaitMs must be positive, got ${ackWaitMs}`);
  }
  // JetStream reads 0 as "unset", i.e. unlimited.
  const maxDeliver = config.maxDeliver === undefined || config.maxDeliver === 0 ? -1 : config.maxDeliver;
  if (!Number.isInteger(maxDeliver) || maxDeliver < -1) {
    throw invalidArgument("INVALID_CONSUMER_CONFIG", `maxDeliver must be -1 or a positive integer, got ${maxDeliver}`);
  }
  return {
    stream: config.stream,
    durable: config.durable,
    filterSubject: config.filterSubject,
    deliverPolicy: config.deliverPolicy ?? "all",
    ackWaitMs,
    maxDeliver,
  };
}

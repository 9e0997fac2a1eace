/**
 * Event bus: durable publish, and durable consumers that ack. Subjects follow
 * `kiln.<service>.v1.<resource>.<past-tense>`; one stream per service holds
 * `kiln.<service>.>`. Semantics match JetStream so the in-process backend and NATS
 * pass one conformance suite. Besides the streams, core request/reply: requests and replies
 * go straight from requester to responder and are never stored.
 */
export interface PublishOptions {
  /** Dedupe id (Nats-Msg-Id): a second publish with the same id within the window is dropped. */
  msgId?: string;
  headers?: Record<string, string>;
  /**
   * false: hand the message to the server and return without waiting for the store's
   * acknowledgement (a fraction of the cost). For notices whose truth lives elsewhere:
   * one may be lost if the server is down, and a reader right after may not see it yet.
   */
  confirm?: boolean;
}

export interface StreamConfig {
  /** e.g. "KILN_STORE" */
  name: string;
  /** e.g. ["kiln.store.>"] */
  subjects: string[];
  /** "limits" keeps messages for every consumer; "workqueue" removes each once acked. */
  retention?: "limits" | "workqueue";
  /** Messages older than this are removed (default: the bus's defaultMaxAgeMs for a limits stream, else kept until acked or forever). */
  maxAgeMs?: number;
}

/** Options every bus takes. */
export interface BusOptions {
  /**
   * How long a limits stream configured without maxAgeMs keeps messages (event streams,
   * whose readers are other systems); unset: forever. Work queues keep theirs until acked.
   */
  defaultMaxAgeMs?: number;
}

/** The max age a stream gets on a bus with these options. */
export function streamMaxAgeMs(config: StreamConfig, options: BusOptions): number | undefined {
  return config.maxAgeMs ?? ((config.retention ?? "limits") === "limits" ? options.defaultMaxAgeMs : undefined);
}

export interface ConsumerConfig {
  stream: string;
  /** Durable name: a consumer with this name resumes where it left off. */
  durable: string;
  /** Subject filter, with NATS wildcards (`*`, `>`). Default: every subject of the stream. */
  filterSubject?: string;
  /** "all" (default) starts at the first stored message, "new" only at later ones. */
  deliverPolicy?: "all" | "new";
  /** Redeliver a message not acked within this time. Default 30 s. */
  ackWaitMs?: number;
  /** Stop redelivering after this many deliveries (-1: forever). Default -1. */
  maxDeliver?: number;
}

export interface BusMessage {
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  /** Stream sequence number. */
  seq: number;
  /** 1 on first delivery. */
  deliveryCount: number;
  ack(): void;
  /** Redeliver, after delayMs if given. */
  nak(delayMs?: number): void;
  /** Still working: resets the ack-wait timer. */
  working(): void;
  /** Never redeliver. */
  term(): void;
}

/** An async iterable of messages; stop() ends the iteration and leaves the durable in place. */
export interface Subscription extends AsyncIterable<BusMessage> {
  stop(): Promise<void>;
  /**
   * Ends the iteration once the messages there are now have been handed out, for a reader
   * stopping that must not leave them behind: the in-process bus, whose messages end with
   * the process, hands them out first; JetStream keeps them for the next reader, so there
   * it is stop().
   */
  drain(): Promise<void>;
}

/** A request as a responder sees it. */
export interface BusRequest {
  /** The subject the request was sent to (never a wildcard). */
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** What a responder answers, and what a requester gets back. */
export interface BusReply {
  data: Uint8Array;
  /** The header `Kiln-Error` is the bus's own (it marks a failed handler on NATS); do not set it. */
  headers: Record<string, string>;
}

export interface RequestOptions {
  /** How long to wait for a reply. Default 5,000 ms. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** Answers requests until stopped. */
export interface Responder {
  /** Stops taking requests; resolves once the ones already taken are answered. */
  stop(): Promise<void>;
}

export interface EventBus {
  /** Creates the stream or updates its subjects; idempotent. */
  ensureStream(config: StreamConfig): Promise<void>;
  /** Resolves once the message is stored durably. Fails if no stream holds the subject. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<void>;
  /** Creates (or binds to) the durable consumer and delivers its messages. */
  subscribe(config: ConsumerConfig): Promise<Subscription>;
  deleteConsumer(stream: string, durable: string): Promise<void>;
  /**
   * Core request/reply, never stored: answers requests on `subject` (wildcards allowed) with `handler`;
   * responders sharing a `queue` name split the requests (each goes to one of them), as NATS queue groups do.
   * A request goes to one member of every queue group with a matching responder, and the first
   * reply wins. Handlers run concurrently, one call per request. The subject must not be one a
   * stream holds (on NATS, JetStream would store the request and answer it with its own ack).
   * Resolves once the responder takes requests.
   */
  respond(subject: string, queue: string, handler: (request: BusRequest) => Promise<BusReply>): Promise<Responder>;
  /**
   * Sends a request to one responder and resolves with its reply. Rejects with a KilnError:
   * UNAVAILABLE reason NO_RESPONDERS when nothing answers on the subject; DEADLINE_EXCEEDED reason
   * REQUEST_TIMEOUT after timeoutMs (a reply arriving later is dropped); INTERNAL reason
   * RESPONDER_FAILED (with the handler's error message, never its stack) when the handler threw;
   * UNAVAILABLE BUS_CLOSED on a closed bus, also for requests pending when it closes;
   * UNAVAILABLE BUS_UNAVAILABLE when NATS stays unreachable for timeoutMs.
   */
  request(subject: string, data: Uint8Array, options?: RequestOptions): Promise<BusReply>;
  /** Rejects pending requests, stops responders (waiting for the requests they took) and subscriptions. */
  close(): Promise<void>;
}

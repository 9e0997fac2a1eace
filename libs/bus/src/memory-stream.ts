import type { StreamConfig } from "./bus.js";
import { subjectMatches } from "./subjects.js";

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  /** When it was stored (ms since the epoch), for maxAgeMs. */
  at: number;
}

/** JetStream's default duplicate window. */
export const DEDUPE_WINDOW_MS = 2 * 60_000;

/** Message storage of one in-process stream: sequence numbers, msgId dedupe, work-queue removal. */
export class MemoryStream {
  readonly name: string;
  subjects: string[];
  readonly retention: "limits" | "workqueue";
  maxAgeMs: number | undefined;
  private readonly messages = new Map<number, StoredMessage>();
  private lastSeq = 0;
  // Insertion order is publish order, so expired ids are always at the front.
  private readonly recentIds = new Map<string, { seq: number; at: number }>();

  constructor(config: StreamConfig) {
    this.name = config.name;
    this.subjects = [...config.subjects];
    this.retention = config.retention ?? "limits";
    this.maxAgeMs = config.maxAgeMs;
  }

  get last(): number {
    return this.lastSeq;
  }

  holds(subject: string): boolean {
    return this.subjects.some((s) => subjectMatches(s, subject));
  }

  append(subject: string, data: Uint8Array, headers: Record<string, string>, msgId?: string): StoredMessage | undefined {
    const now = Date.now();
    for (const [id, entry] of this.recentIds) {
      if (now - entry.at < DEDUPE_WINDOW_MS) break;
      this.recentIds.delete(id);
    }
    if (msgId !== undefined && this.recentIds.has(msgId)) return undefined;
    this.expire(now);
    const msg: StoredMessage = { seq: ++this.lastSeq, subject, data: data.slice(), headers: { ...headers }, at: now };
    this.messages.set(msg.seq, msg);
    if (msgId !== undefined) this.recentIds.set(msgId, { seq: msg.seq, at: now });
    return msg;
  }

  get(seq: number): StoredMessage | undefined {
    this.expire(Date.now());
    return this.messages.get(seq);
  }

  /** The first stored message at or after `from` that `filter` matches. */
  firstFrom(from: number, filter: string | undefined): StoredMessage | undefined {
    this.expire(Date.now());
    // Map order is publish order, so the first key is the oldest message still stored.
    const oldest: number = this.messages.keys().next().value ?? this.lastSeq + 1;
    for (let seq = Math.max(from, oldest); seq <= this.lastSeq; seq++) {
      const msg = this.messages.get(seq);
      if (msg && (filter === undefined || subjectMatches(filter, msg.subject))) return msg;
    }
    return undefined;
  }

  /** Drops messages past maxAgeMs; insertion order is publish order, so they are at the front. */
  private expire(now: number): void {
    if (this.maxAgeMs === undefined) return;
    for (const msg of this.messages.values()) {
      if (now - msg.at < this.maxAgeMs) break;
      this.messages.delete(msg.seq);
    }
  }

  remove(seq: number): void {
    this.messages.delete(seq);
  }
}

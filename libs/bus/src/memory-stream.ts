import type { StreamConfig } from "./bus.js";
import { inMemory, readPayload, type Payload, type PayloadSpill } from "./payload-spill.js";
import { subjectMatcher, subjectMatches } from "./subjects.js";

export interface StoredMessage {
  seq: number;
  subject: string;
  /** Its bytes: read them with the stream's `dataOf`. */
  payload: Payload;
  headers: Record<string, string>;
  /** When it was stored (ms since the epoch), for maxAgeMs. */
  at: number;
}

/** JetStream's default duplicate window; as there, never longer than the stream's max age. */
export const DEDUPE_WINDOW_MS = 2 * 60_000;

/** Message storage of one in-process stream: sequence numbers, msgId dedupe, work-queue removal. */
export class MemoryStream {
  readonly name: string;
  subjects: string[];
  readonly retention: "limits" | "workqueue";
  maxAgeMs: number | undefined;
  private readonly messages = new Map<number, StoredMessage>();
  /**
   * Sequence numbers of the stored messages by subject, in order, so a consumer filtered on
   * one subject (a job's results) finds its messages without reading the whole stream.
   */
  private readonly bySubject = new Map<string, SubjectSeqs>();
  private lastSeq = 0;
  // Insertion order is publish order, so expired ids are always at the front.
  private readonly recentIds = new Map<string, { seq: number; at: number }>();

  /** With a spill, large payloads are kept on disk rather than in memory. */
  constructor(
    config: StreamConfig,
    private readonly spill?: PayloadSpill,
  ) {
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
      if (now - entry.at < Math.min(DEDUPE_WINDOW_MS, this.maxAgeMs ?? Infinity)) break;
      this.recentIds.delete(id);
    }
    if (msgId !== undefined && this.recentIds.has(msgId)) return undefined;
    this.expire(now);
    const payload = this.spill?.store(data) ?? inMemory(data);
    const msg: StoredMessage = { seq: ++this.lastSeq, subject, payload, headers: { ...headers }, at: now };
    this.messages.set(msg.seq, msg);
    let seqs = this.bySubject.get(subject);
    if (!seqs) this.bySubject.set(subject, (seqs = new SubjectSeqs()));
    seqs.add(msg.seq);
    if (msgId !== undefined) this.recentIds.set(msgId, { seq: msg.seq, at: now });
    return msg;
  }

  /** A fresh copy of a stored message's bytes. */
  dataOf(msg: StoredMessage): Uint8Array {
    return readPayload(msg.payload);
  }

  get(seq: number): StoredMessage | undefined {
    this.expire(Date.now());
    return this.messages.get(seq);
  }

  /** The first stored message at or after `from` that `filter` matches. */
  firstFrom(from: number, filter: string | undefined): StoredMessage | undefined {
    this.expire(Date.now());
    if (filter !== undefined && !hasWildcard(filter)) return this.firstOfSubject(from, filter);
    const matches = filter === undefined ? () => true : subjectMatcher(filter);
    // Map order is publish order, so the first key is the oldest message still stored.
    const oldest: number = this.messages.keys().next().value ?? this.lastSeq + 1;
    for (let seq = Math.max(from, oldest); seq <= this.lastSeq; seq++) {
      const msg = this.messages.get(seq);
      if (msg && matches(msg.subject)) return msg;
    }
    return undefined;
  }

  private firstOfSubject(from: number, subject: string): StoredMessage | undefined {
    const seqs = this.bySubject.get(subject);
    if (!seqs) return undefined;
    for (let i = seqs.firstAtOrAfter(from); i < seqs.list.length; i++) {
      const msg = this.messages.get(seqs.list[i]!);
      if (msg) return msg; // one a work queue removed out of order is skipped
    }
    return undefined;
  }

  /** Drops messages past maxAgeMs; insertion order is publish order, so they are at the front. */
  private expire(now: number): void {
    if (this.maxAgeMs === undefined) return;
    for (const msg of this.messages.values()) {
      if (now - msg.at < this.maxAgeMs) break;
      this.remove(msg.seq);
    }
  }

  remove(seq: number): void {
    const msg = this.messages.get(seq);
    if (!msg) return;
    this.messages.delete(seq);
    this.spill?.release(msg.payload);
    const seqs = this.bySubject.get(msg.subject)!;
    seqs.removed((s) => this.messages.has(s));
    if (seqs.empty) this.bySubject.delete(msg.subject); // one subject a job: none may outlive its messages
  }
}

/** One subject's sequence numbers in order; the ones before `head`, and some after it, are gone. */
class SubjectSeqs {
  list: number[] = [];
  private head = 0;
  /** How many of them are still stored. */
  private stored = 0;

  get empty(): boolean {
    return this.stored === 0;
  }

  add(seq: number): void {
    this.list.push(seq);
    this.stored++;
  }

  /** The index of the first sequence number at or after `seq` (binary search). */
  firstAtOrAfter(seq: number): number {
    let low = this.head;
    let high = this.list.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.list[mid]! < seq) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /**
   * After one of them is gone: moves past the gone ones at the front, and drops the gone
   * ones further on once they are most of the list (a work queue acks out of order).
   */
  removed(isStored: (seq: number) => boolean): void {
    this.stored--;
    while (this.head < this.list.length && !isStored(this.list[this.head]!)) this.head++;
    const kept = this.list.length - this.head;
    if (kept > 1024 && kept > 2 * this.stored) {
      this.list = this.list.slice(this.head).filter(isStored);
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.list.length) {
      this.list = this.list.slice(this.head);
      this.head = 0;
    }
  }
}

function hasWildcard(filter: string): boolean {
  return filter.includes("*") || filter.includes(">");
}

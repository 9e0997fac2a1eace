import type { StreamConfig } from "./bus.js";
import { subjectMatches } from "./subjects.js";

export interface StoredMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** JetStream's default duplicate window. */
export const DEDUPE_WINDOW_MS = 2 * 60_000;

/** Message storage of one in-process stream: sequence numbers, msgId dedupe, work-queue removal. */
export class MemoryStream {
  readonly name: string;
  subjects: string[];
  readonly retention: "limits" | "workqueue";
  private readonly messages = new Map<number, StoredMessage>();
  private lastSeq = 0;
  // Insertion order is publish order, so expired ids are always at the front.
  private readonly recentIds = new Map<string, { seq: number; at: number }>();

  constructor(config: StreamConfig) {
    this.name = config.name;
    this.subjects = [...config.subjects];
    this.retention = config.retention ?? "limits";
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
    const msg: StoredMessage = { seq: ++this.lastSeq, subject, data: data.slice(), headers: { ...headers } };
    this.messages.set(msg.seq, msg);
    if (msgId !== undefined) this.recentIds.set(msgId, { seq: msg.seq, at: now });
    return msg;
  }

  get(seq: number): StoredMessage | undefined {
    return this.messages.get(seq);
  }

  /** The first stored message at or after `from` that `filter` matches. */
  firstFrom(from: number, filter: string | undefined): StoredMessage | undefined {
    for (let seq = from; seq <= this.lastSeq; seq++) {
      const msg = this.messages.get(seq);
      if (msg && (filter === undefined || subjectMatches(filter, msg.subject))) return msg;
    }
    return undefined;
  }

  remove(seq: number): void {
    this.messages.delete(seq);
  }
}

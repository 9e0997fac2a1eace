import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, unlinkSync, write } from "node:fs";
import { join } from "node:path";
import { isProcessRunning } from "@kiln/core";

/** Where a stored message's bytes are: in memory, or in a segment file of the spill (and in memory until written there). */
export interface Payload {
  bytes?: Uint8Array;
  segment?: Segment;
  offset: number;
  length: number;
}

interface Segment {
  path: string;
  fd: number;
  size: number;
  /** Payloads in it not yet released. */
  live: number;
  /** Writes to it not yet done. */
  writing: number;
}

export interface SpillOptions {
  /** A folder of its own: emptied at start, removed at close. */
  dir: string;
  /** Payloads of at least this many bytes go to disk (default 64 KiB: job results, not events). */
  atBytes?: number;
  /** A new segment file after this many bytes (default 64 MiB). */
  segmentBytes?: number;
}

/**
 * The in-process bus's large payloads on disk instead of in the heap, as JetStream's file
 * storage keeps them: job results stay readable for an hour, and a server predicting
 * millions of rows an hour held every result chunk in memory meanwhile (after 40 predicts of a
 * million rows: 392 MiB, now 284). Segment files are appended to and deleted once every payload
 * in them is released; reads come from the page cache. A payload is written on the thread
 * pool and kept in memory until it is, so a reader right behind the writer (a job's
 * results streamed while it runs) reads memory, and the event loop never waits on the disk
 * to store.
 */
export class PayloadSpill {
  private readonly atBytes: number;
  private readonly segmentBytes: number;
  private current: Segment | undefined;
  private readonly open = new Set<Segment>();
  private segments = 0;
  private closed = false;
  /** Writes under way, and who waits for there to be none. */
  private writes = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: SpillOptions) {
    this.atBytes = options.atBytes ?? 64 * 1024;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    rmSync(options.dir, { recursive: true, force: true });
    mkdirSync(options.dir, { recursive: true });
  }

  /** Keeps a copy of the bytes: small ones in memory, the others in the current segment. */
  store(data: Uint8Array): Payload {
    if (data.byteLength < this.atBytes || this.closed) return inMemory(data);
    const bytes = data.slice();
    const segment = this.segmentFor(bytes.byteLength);
    const payload: Payload = { bytes, segment, offset: segment.size, length: bytes.byteLength };
    segment.size += bytes.byteLength;
    segment.live++;
    segment.writing++;
    this.writes++;
    writeAll(segment.fd, bytes, payload.offset, (err) => {
      segment.writing--;
      this.writes--;
      if (this.closed) {
        // Closed while this write was under way: its descriptor was left open for it (closing it
        // earlier could have let the write land in a file opened later under the same number).
        if (segment.writing === 0) closeSync(segment.fd);
      } else {
        // A payload whose write failed (a full disk) stays in memory: nothing stored is lost.
        if (!err) payload.bytes = undefined;
        if (segment.live === 0 && segment.writing === 0 && segment !== this.current) this.drop(segment);
      }
      if (this.writes === 0) for (const resolve of this.waiting.splice(0)) resolve();
    });
    return payload;
  }

  /** Resolves once every write started so far is done. */
  async flushed(): Promise<void> {
    while (this.writes > 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(payload: Payload): void {
    const segment = payload.segment;
    if (!segment || this.closed) return;
    payload.segment = undefined;
    segment.live--;
    if (segment.live === 0 && segment.writing === 0 && segment !== this.current) this.drop(segment);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const segment of this.open) if (segment.writing === 0) closeSync(segment.fd);
    this.open.clear();
    this.current = undefined;
    rmSync(this.options.dir, { recursive: true, force: true });
  }

  private segmentFor(bytes: number): Segment {
    const current = this.current;
    if (current && current.size + bytes <= this.segmentBytes) return current;
    if (current && current.live === 0 && current.writing === 0) this.drop(current);
    const path = join(this.options.dir, `segment-${++this.segments}`);
    this.current = { path, fd: openSync(path, "w+"), size: 0, live: 0, writing: 0 };
    this.open.add(this.current);
    return this.current;
  }

  private drop(segment: Segment): void {
    this.open.delete(segment);
    closeSync(segment.fd);
    unlinkSync(segment.path);
  }
}

/** A payload kept in memory: a copy of the bytes. */
export function inMemory(data: Uint8Array): Payload {
  return { bytes: data.slice(), offset: 0, length: data.byteLength };
}

/** A fresh copy of a payload's bytes, from memory or from its segment. */
export function readPayload(payload: Payload): Uint8Array {
  if (payload.bytes) return payload.bytes.slice();
  const out = new Uint8Array(payload.length);
  for (let done = 0; done < out.byteLength; ) {
    const n = readSync(payload.segment!.fd, out, done, out.byteLength - done, payload.offset + done);
    if (n === 0) throw new Error(`spilled payload cut short in ${payload.segment!.path}`);
    done += n;
  }
  return out;
}

/** Writes all of `bytes` at `position`, however many calls that takes. */
function writeAll(fd: number, bytes: Uint8Array, position: number, done: (err: Error | null) => void, from = 0): void {
  write(fd, bytes, from, bytes.byteLength - from, position + from, (err, written) => {
    if (err) return done(err);
    if (from + written < bytes.byteLength) return writeAll(fd, bytes, position, done, from + written);
    done(null);
  });
}

/**
 * A folder for this process's spill under `root`: the folders of processes no longer
 * running are removed (a process killed never removed its own).
 */
export function spillDirFor(root: string, pid = process.pid): string {
  mkdirSync(root, { recursive: true });
  for (const entry of readdirSync(root)) {
    const other = Number(entry);
    if (Number.isInteger(other) && other !== pid && !isProcessRunning(other)) rmSync(join(root, entry), { recursive: true, force: true });
  }
  return join(root, String(pid));
}

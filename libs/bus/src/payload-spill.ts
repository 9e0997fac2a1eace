import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Where a stored message's bytes are: in memory, or in a segment file of the spill. */
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
 * millions of rows an hour held every result chunk in memory meanwhile (40 predicts of a
 * million rows: +250 MiB). Segment files are appended to and deleted once every payload
 * in them is released; reads come from the page cache.
 */
export class PayloadSpill {
  private readonly atBytes: number;
  private readonly segmentBytes: number;
  private current: Segment | undefined;
  private readonly open = new Set<Segment>();
  private segments = 0;
  private closed = false;

  constructor(private readonly options: SpillOptions) {
    this.atBytes = options.atBytes ?? 64 * 1024;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    rmSync(options.dir, { recursive: true, force: true });
    mkdirSync(options.dir, { recursive: true });
  }

  /** Keeps a copy of the bytes: small ones in memory, the others in the current segment. */
  store(data: Uint8Array): Payload {
    if (data.byteLength < this.atBytes || this.closed) return { bytes: data.slice(), offset: 0, length: data.byteLength };
    const segment = this.segmentFor(data.byteLength);
    const offset = segment.size;
    for (let written = 0; written < data.byteLength; ) written += writeSync(segment.fd, data, written, data.byteLength - written, offset + written);
    segment.size += data.byteLength;
    segment.live++;
    return { segment, offset, length: data.byteLength };
  }

  /** A fresh copy of the payload's bytes. */
  read(payload: Payload): Uint8Array {
    if (payload.bytes) return payload.bytes.slice();
    const out = new Uint8Array(payload.length);
    for (let done = 0; done < out.byteLength; ) {
      const n = readSync(payload.segment!.fd, out, done, out.byteLength - done, payload.offset + done);
      if (n === 0) throw new Error(`spilled payload cut short in ${payload.segment!.path}`);
      done += n;
    }
    return out;
  }

  release(payload: Payload): void {
    const segment = payload.segment;
    if (!segment || this.closed) return;
    payload.segment = undefined;
    segment.live--;
    if (segment.live === 0 && segment !== this.current) this.drop(segment);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const segment of this.open) closeSync(segment.fd);
    this.open.clear();
    this.current = undefined;
    rmSync(this.options.dir, { recursive: true, force: true });
  }

  private segmentFor(bytes: number): Segment {
    const current = this.current;
    if (current && current.size + bytes <= this.segmentBytes) return current;
    if (current && current.live === 0) this.drop(current);
    const path = join(this.options.dir, `segment-${++this.segments}`);
    this.current = { path, fd: openSync(path, "w+"), size: 0, live: 0 };
    this.open.add(this.current);
    return this.current;
  }

  private drop(segment: Segment): void {
    this.open.delete(segment);
    closeSync(segment.fd);
    unlinkSync(segment.path);
  }
}

/**
 * A folder for this process's spill under `root`: the folders of processes no longer
 * running are removed (a process killed never removed its own).
 */
export function spillDirFor(root: string, pid = process.pid): string {
  mkdirSync(root, { recursive: true });
  for (const entry of readdirSync(root)) {
    const other = Number(entry);
    if (Number.isInteger(other) && other !== pid && !isRunning(other)) rmSync(join(root, entry), { recursive: true, force: true });
  }
  return join(root, String(pid));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

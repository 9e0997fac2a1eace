/**
 * Buffers lent out for a transfer and handed back for reuse, so a long transfer does not
 * allocate as it goes (fresh buffers that live a while reach V8's old space, and every
 * 64 MB of them costs a full garbage collection). Only buffers it lent come back, each
 * once, and only ones that own all their memory (never a slice of Node's shared pool).
 */
export class BufferRecycler {
  private readonly lent = new WeakSet<ArrayBufferLike>();
  private readonly spare: Uint8Array[] = [];

  constructor(private readonly maxSpare: number) {}

  /** A buffer handed back earlier, if any. */
  take(): Uint8Array | undefined {
    return this.spare.pop();
  }

  /** Notes a buffer going out, so it may come back. */
  lend(buffer: Uint8Array): void {
    if (ownsItsMemory(buffer)) this.lent.add(buffer.buffer);
  }

  /** Takes back a lent buffer (or a view of it) whose holder is done with it. */
  giveBack(chunk: Uint8Array): void {
    if (!this.lent.has(chunk.buffer) || this.spare.length >= this.maxSpare) return;
    this.lent.delete(chunk.buffer); // once, even if the holder repeats itself
    this.spare.push(new Uint8Array(chunk.buffer));
  }
}

function ownsItsMemory(buffer: Uint8Array): boolean {
  return buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
}

/**
 * Buffers lent out for a transfer and handed back for reuse, so a long transfer does not
 * allocate as it goes (fresh buffers that live a while reach V8's old space, and every
 * 64 MB of them costs a full garbage collection). Only buffers it lent come back, each
 * once, and only ones that own all their memory (never a slice of Node's shared pool).
 */
export class BufferRecycler {
  private readonly lent = new WeakSet<ArrayBufferLike>();
  private readonly spare: Uint8Array[] = [];

  /** With `allocate`, a take() that finds no spare buffer large enough gets a new one from it (and lends it). */
  constructor(
    private readonly maxSpare: number,
    private readonly allocate?: (bytes: number) => Uint8Array,
  ) {}

  /** A buffer handed back earlier that holds `bytes`, else a new one if this recycler allocates, else nothing. */
  take(bytes: number): Uint8Array | undefined {
    const i = this.spare.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.spare.splice(i, 1)[0];
    if (!this.allocate) return undefined;
    const buffer = this.allocate(bytes);
    this.lend(buffer);
    return buffer;
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

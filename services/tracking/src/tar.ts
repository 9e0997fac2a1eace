/** A file to put in a tar archive: its path in the archive, its size, and its bytes as they stream. */
export interface TarEntry {
  path: string;
  size: number;
  bytes(): AsyncIterable<Uint8Array>;
}

const BLOCK = 512;
/** ustar's size field holds 11 octal digits. */
const USTAR_MAX_SIZE = 8 ** 11 - 1;

/**
 * A POSIX tar archive (ustar) of the entries, streamed: each header, then the file's bytes
 * padded to a block. A path longer than ustar's 100 bytes, or a file over 8 GiB, gets a
 * PAX header first, as GNU tar and Python's tarfile read them.
 */
export async function* tarStream(entries: Iterable<TarEntry>, mtime: Date): AsyncGenerator<Uint8Array> {
  const seconds = Math.floor(mtime.getTime() / 1000);
  for (const entry of entries) {
    const path = Buffer.from(entry.path, "utf8");
    const pax: string[] = [];
    if (path.length > 100) pax.push(paxRecord("path", entry.path));
    if (entry.size > USTAR_MAX_SIZE) pax.push(paxRecord("size", String(entry.size)));
    if (pax.length) {
      const body = Buffer.from(pax.join(""), "utf8");
      yield header(`PaxHeader/${entry.path}`, body.length, seconds, "x");
      yield body;
      yield padding(body.length);
    }
    yield header(entry.path, Math.min(entry.size, USTAR_MAX_SIZE), seconds, "0");
    let written = 0;
    for await (const bytes of entry.bytes()) {
      written += bytes.byteLength;
      yield bytes;
    }
    if (written !== entry.size) throw new Error(`${entry.path} streamed ${written} bytes, not the ${entry.size} its header says`);
    yield padding(entry.size);
  }
  yield new Uint8Array(2 * BLOCK);
}

/** A PAX record, "LENGTH key=value\n", whose LENGTH counts its own digits. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest, "utf8");
  let length = restBytes + 1;
  while (String(length).length + restBytes !== length) length = String(length).length + restBytes;
  return `${length}${rest}`;
}

function header(name: string, size: number, mtime: number, type: "0" | "x"): Uint8Array {
  const block = Buffer.alloc(BLOCK);
  // A long name is cut to the field here; its PAX header gives it whole.
  block.write(truncateUtf8(name, 100), 0, "utf8");
  block.write("0000644\0", 100, "ascii");
  block.write("0000000\0", 108, "ascii");
  block.write("0000000\0", 116, "ascii");
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "ascii");
  block.write(`${mtime.toString(8).padStart(11, "0")}\0`, 136, "ascii");
  block.write("        ", 148, "ascii");
  block.write(type, 156, "ascii");
  block.write("ustar\0" + "00", 257, "ascii");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return block;
}

function truncateUtf8(text: string, bytes: number): string {
  let out = Buffer.from(text, "utf8").subarray(0, bytes).toString("utf8");
  while (Buffer.byteLength(out, "utf8") > bytes) out = out.slice(0, -1); // a character cut in two becomes U+FFFD
  return out;
}

function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

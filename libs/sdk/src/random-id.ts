/** A random id that works in Node and in browsers (Web Crypto). */
export function randomUUID(): string {
  return globalThis.crypto.randomUUID();
}

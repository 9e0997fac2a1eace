import { invalidArgument, resourceExhausted } from "./errors.js";
import { printable } from "./names.js";
import type { HttpRequest, HttpResponse } from "./server.js";

/** A JSON value, as plain HTTP routes read and answer them. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The whole body, at most `maxBytes` (ResourceExhausted REQUEST_TOO_LARGE past that). */
export async function readBody(req: HttpRequest, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > maxBytes) throw resourceExhausted("REQUEST_TOO_LARGE", `the request body is over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, bytes);
}

/** The body as a JSON object, at most `maxBytes` (an empty one as `{}` where `emptyIsObject`); `what` says what it holds, for the error. */
export async function readJsonObject(req: HttpRequest, what: string, maxBytes: number, emptyIsObject = false): Promise<Record<string, Json>> {
  const raw = await readBody(req, maxBytes);
  if (emptyIsObject && raw.length === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch (e) {
    throw invalidArgument("INVALID_JSON", `the request body is not JSON: ${(e as Error).message}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidArgument("INVALID_JSON", `the request body is a JSON object with ${what}`);
  return body as Record<string, Json>;
}

export function sendJson(res: HttpResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** One percent-encoded path segment, decoded; bad encoding is InvalidArgument INVALID_PATH. */
export function pathPart(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw invalidArgument("INVALID_PATH", `"${printable(text)}" in the path is not valid percent-encoding`);
  }
}

import { createHash } from "node:crypto";
import { invalidArgument } from "./errors.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export function pageSize(requested: number): number {
  if (requested < 0) throw invalidArgument("INVALID_PAGE_SIZE", "page_size must not be negative");
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

/**
 * Page tokens are opaque to clients: the last key returned, bound to the filter it was
 * made with (AIP-158: changing the filter between pages is an error).
 */
export function encodePageToken(afterKey: string, filter: string): string {
  return Buffer.from(JSON.stringify({ a: afterKey, f: digest(filter) })).toString("base64url");
}

export function decodePageToken(token: string, filter: string): string | undefined {
  if (!token) return undefined;
  let parsed: { a?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("INVALID_PAGE_TOKEN", "page_token is not one this server issued");
  }
  if (typeof parsed.a !== "string") throw invalidArgument("INVALID_PAGE_TOKEN", "page_token is not one this server issued");
  if (parsed.f !== digest(filter)) throw invalidArgument("INVALID_PAGE_TOKEN", "page_token was issued for another filter");
  return parsed.a;
}

/** A page token holding a position in an ordered answer (an offset, a run number), bound as encodePageToken binds. */
export function encodePositionToken(position: number, filter: string): string {
  return encodePageToken(String(position), filter);
}

/** The position a token holds, 0 without a token; INVALID_PAGE_TOKEN when it holds no position. */
export function decodePositionToken(token: string, filter: string): number {
  const position = Number(decodePageToken(token, filter) ?? 0);
  if (!Number.isSafeInteger(position) || position < 0) throw invalidArgument("INVALID_PAGE_TOKEN", "page_token is not one this server issued");
  return position;
}

function digest(filter: string): string {
  return createHash("sha256").update(filter).digest("base64url").slice(0, 12);
}

import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { UnauthenticatedError } from "./errors.js";
import { Code } from "@connectrpc/connect";

/** What `kiln login` keeps: an identity provider's tokens for this user, and how to renew them. */
export interface StoredCredentials {
  issuer: string;
  clientId: string;
  tokenEndpoint: string;
  /** The token Kiln is shown (the provider's access token, or its ID token when the access token is not a JWT). */
  token: string;
  refreshToken?: string;
  /** When the token was obtained and when it expires, milliseconds since the epoch. */
  obtainedAt: number;
  expiresAt: number;
}

/**
 * Renewed this long before it expires (at most half its lifetime, for short-lived ones), so
 * a call never carries a token about to lapse.
 */
const RENEW_BEFORE_MS = 60_000;

function renewalDue(c: StoredCredentials, now: number): boolean {
  return c.expiresAt - now <= Math.min(RENEW_BEFORE_MS, (c.expiresAt - c.obtainedAt) / 2);
}

/** `$XDG_CONFIG_HOME/kiln/credentials.json`, else `~/.config/kiln/credentials.json`. */
export function credentialsPath(env: Record<string, string | undefined> = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "kiln", "credentials.json");
}

export async function readCredentials(path = credentialsPath()): Promise<StoredCredentials | undefined> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  return text === undefined ? undefined : (JSON.parse(text) as StoredCredentials);
}

/** Written whole (a temporary file renamed over it), readable by this user only. */
export async function writeCredentials(credentials: StoredCredentials, path = credentialsPath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const partial = `${path}.${process.pid}.tmp`;
  await writeFile(partial, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600 });
  await rename(partial, path);
}

export async function removeCredentials(path = credentialsPath()): Promise<boolean> {
  const existed = (await readCredentials(path)) !== undefined;
  await rm(path, { force: true });
  return existed;
}

/** The token to show from a provider's token answer: its access token if that is a JWT, else its ID token. */
export function tokenOfAnswer(answer: { access_token?: string; id_token?: string }): string {
  const isJwt = (t?: string) => typeof t === "string" && t.split(".").length === 3;
  const token = isJwt(answer.access_token) ? answer.access_token : answer.id_token;
  if (!token) throw new Error("the identity provider answered with neither a JWT access token nor an ID token");
  return token;
}

/**
 * The stored login's current token, renewed with its refresh token (and stored again)
 * when it is about to expire; one renewal at a time however many calls ask.
 */
export function storedLoginToken(initial: StoredCredentials, path = credentialsPath()): () => Promise<string> {
  let credentials = initial;
  let renewing: Promise<StoredCredentials> | undefined;
  return async () => {
    if (!renewalDue(credentials, Date.now())) return credentials.token;
    if (!credentials.refreshToken) {
      throw new UnauthenticatedError(`the login at ${credentials.issuer} expired at ${new Date(credentials.expiresAt).toISOString()}: run kiln login again`, Code.Unauthenticated, "LOGIN_EXPIRED", {});
    }
    // Renewed and stored once, whoever asks meanwhile waits for that one.
    renewing ??= renew(credentials)
      .then(async (renewed) => {
        await writeCredentials(renewed, path);
        credentials = renewed;
        return renewed;
      })
      .finally(() => (renewing = undefined));
    return (await renewing).token;
  };
}

async function renew(c: StoredCredentials): Promise<StoredCredentials> {
  const res = await fetch(c.tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: c.refreshToken!, client_id: c.clientId }),
  });
  const answer = (await res.json().catch(() => ({}))) as { access_token?: string; id_token?: string; refresh_token?: string; expires_in?: number; error?: string };
  if (!res.ok) {
    throw new UnauthenticatedError(`the login at ${c.issuer} could not be renewed (${answer.error ?? `HTTP ${res.status}`}): run kiln login again`, Code.Unauthenticated, "LOGIN_EXPIRED", {});
  }
  const now = Date.now();
  return { ...c, token: tokenOfAnswer(answer), refreshToken: answer.refresh_token ?? c.refreshToken, obtainedAt: now, expiresAt: now + (answer.expires_in ?? 300) * 1000 };
}

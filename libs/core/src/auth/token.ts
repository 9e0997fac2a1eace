import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { unauthenticated } from "../errors.js";
import { isId } from "../names.js";

/** What a token lets its holder do, each including the ones before it. */
export const ROLES = ["read", "write", "admin", "service"] as const;
export type Role = (typeof ROLES)[number];

/** A token's projects ["*"]: every project. */
export const EVERY_PROJECT = "*";

export interface TokenClaims {
  /** Who holds it (a person, a team, a service), as logs and denials name it. */
  sub: string;
  role: Role;
  /** Project ids, or ["*"]. */
  projects: string[];
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch; absent: never. */
  exp?: number;
  /** The token's own id. */
  jti: string;
  /** An identity provider's issuer URL; absent for Kiln's own tokens. */
  iss?: string;
}

export interface MintOptions {
  subject: string;
  role: Role;
  projects: readonly string[];
  /** Seconds from now; absent: never expires. */
  expiresInSeconds?: number;
  /** Seconds since the epoch (tests). */
  now?: number;
}

/** Secrets shorter than this are refused: HS256 wants at least its hash's 32 bytes of key. */
export const MIN_SECRET_LENGTH = 32;
const HEADER = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));

/**
 * A JSON Web Token signed with HS256, so any JWT library can mint or read Kiln's tokens
 * (claims: sub, role, projects, iat, exp, jti). Tokens are checked by signature alone:
 * no service keeps a table of them, and a token is revoked by retiring the secret that
 * signed it (or by its expiry).
 */
export function mintToken(secret: string, options: MintOptions): string {
  checkSecret(secret);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const claims: TokenClaims = {
    sub: options.subject,
    role: options.role,
    projects: [...options.projects],
    iat: now,
    ...(options.expiresInSeconds !== undefined && { exp: now + options.expiresInSeconds }),
    jti: randomUUID(),
  };
  const problem = claimsProblem(claims);
  if (problem) throw new Error(problem);
  const body = `${HEADER}.${base64url(JSON.stringify(claims))}`;
  return `${body}.${sign(secret, body)}`;
}

/** The claims of a token signed by one of `secrets` that has not expired; else Unauthenticated, saying why. */
export function verifyToken(token: string, secrets: readonly string[], nowSeconds = Math.floor(Date.now() / 1000)): TokenClaims {
  const parts = token.split(".");
  if (parts.length !== 3) throw unauthenticated("TOKEN_MALFORMED", "the token is not a JSON Web Token (three dot-separated parts)");
  const [header, payload, signature] = parts as [string, string, string];
  const alg = (parseJson(header) as { alg?: unknown } | undefined)?.alg;
  if (alg !== "HS256") throw unauthenticated("TOKEN_MALFORMED", `the token's algorithm is ${JSON.stringify(alg)}; Kiln signs and accepts HS256 only`);
  const given = Buffer.from(signature, "base64url");
  const signed = secrets.some((secret) => {
    const expected = Buffer.from(sign(secret, `${header}.${payload}`), "base64url");
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!signed) throw unauthenticated("TOKEN_INVALID", "the token is not signed by any of this server's secrets (KILN_AUTH_SECRETS): it was tampered with, or its secret was retired");
  const claims = parseJson(payload) as TokenClaims | undefined;
  const problem = claims === undefined ? "its claims are not JSON" : claimsProblem(claims);
  if (problem) throw unauthenticated("TOKEN_MALFORMED", `the token is signed but ${problem}`);
  if (claims!.exp !== undefined && claims!.exp <= nowSeconds) {
    throw unauthenticated("TOKEN_EXPIRED", `the token of ${claims!.sub} expired at ${new Date(claims!.exp * 1000).toISOString()}`, { subject: claims!.sub });
  }
  return claims!;
}

/** A token's claims without checking its signature: for showing a token to its holder, never for deciding. */
export function readTokenClaims(token: string): TokenClaims {
  const claims = parseJson(token.split(".")[1] ?? "") as TokenClaims | undefined;
  const problem = claims === undefined ? "it is not a JSON Web Token" : claimsProblem(claims);
  if (problem) throw new Error(`not a Kiln token: ${problem}`);
  return claims!;
}

export function checkSecret(secret: string): void {
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`a secret needs at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32), got ${secret.length}`);
}

function claimsProblem(c: Partial<TokenClaims>): string | undefined {
  if (typeof c !== "object" || c === null) return "its claims are not an object";
  if (typeof c.sub !== "string" || c.sub === "" || c.sub.length > 200) return "its subject (sub) is not a name of 1 to 200 characters";
  if (!(ROLES as readonly unknown[]).includes(c.role)) return `its role is ${JSON.stringify(c.role)}, not one of ${ROLES.join(", ")}`;
  if (!Array.isArray(c.projects) || c.projects.length === 0) return "it names no projects (a list of project ids, or [\"*\"])";
  const bad = c.projects.find((p) => p !== EVERY_PROJECT && !(typeof p === "string" && isId(p)));
  if (bad !== undefined) return `its project ${JSON.stringify(bad)} is not a project id or "*"`;
  if (!Number.isInteger(c.iat)) return "its issue time (iat) is not whole seconds";
  if (c.exp !== undefined && !Number.isInteger(c.exp)) return "its expiry (exp) is not whole seconds";
  if (typeof c.jti !== "string" || c.jti === "") return "it has no id (jti)";
  return undefined;
}

function sign(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64url");
}

function base64url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64url");
}

function parseJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
}

import { constants, verify, type KeyObject } from "node:crypto";
import { unauthenticated } from "../errors.js";
import { isId, printable } from "../names.js";
import type { JwksKeys } from "./jwks.js";
import { EVERY_PROJECT, ROLES, type Role, type TokenClaims } from "./token.js";

/** How tokens of an identity provider (OpenID Connect: Keycloak, Auth0, Okta, Entra ID, Dex…) are read. */
export interface IdentityProvider {
  keys: JwksKeys;
  /** The `iss` its tokens carry. */
  issuer: string;
  /** When set, `aud` must name it. */
  audience?: string;
  /** The claim holding the Kiln role (read, write, admin, service). */
  roleClaim: string;
  /** The claim holding the project ids (a list, or a string separated by spaces or commas; "*" for every one). */
  projectsClaim: string;
}

/** Clocks of the provider and the server may differ this much. */
const LEEWAY_SECONDS = 60;

const ALGORITHMS: Record<string, { hash: string; options?: { padding?: number; saltLength?: number; dsaEncoding?: "ieee-p1363" } }> = {
  RS256: { hash: "sha256" },
  RS384: { hash: "sha384" },
  RS512: { hash: "sha512" },
  PS256: { hash: "sha256", options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  PS384: { hash: "sha384", options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 } },
  PS512: { hash: "sha512", options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 } },
  ES256: { hash: "sha256", options: { dsaEncoding: "ieee-p1363" } },
  ES384: { hash: "sha384", options: { dsaEncoding: "ieee-p1363" } },
  ES512: { hash: "sha512", options: { dsaEncoding: "ieee-p1363" } },
};

type Claims = Record<string, unknown>;

/**
 * The claims of a token the identity provider signed (one of its keys, by `kid`), issued by
 * it, for this audience, unexpired; its role and projects from the configured claims, its
 * subject the person's name as the provider gives it (preferred_username, else email,
 * else sub). Unauthenticated, saying why, otherwise.
 */
export async function verifyProviderToken(parts: [string, string, string], header: { alg?: unknown; kid?: unknown }, idp: IdentityProvider, nowSeconds: number): Promise<TokenClaims> {
  const alg = typeof header.alg === "string" ? ALGORITHMS[header.alg] : undefined;
  if (!alg) throw unauthenticated("TOKEN_MALFORMED", `the token's algorithm is ${JSON.stringify(header.alg)}; the identity provider's must be one of ${Object.keys(ALGORITHMS).join(", ")}`);
  if (typeof header.kid !== "string") throw unauthenticated("TOKEN_MALFORMED", "the token names no key (kid)");
  const found = await idp.keys.key(header.kid);
  if (!found) throw unauthenticated("TOKEN_INVALID", `the token's key ${printable(header.kid)} is not in the identity provider's key set (${idp.keys.url})`);
  if (found.alg && found.alg !== header.alg) throw unauthenticated("TOKEN_INVALID", `the token says ${String(header.alg)}, its key is for ${found.alg}`);
  if (!checkSignature(parts, found.key, alg)) throw unauthenticated("TOKEN_INVALID", "the token's signature does not match the identity provider's key: it was tampered with");
  const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Claims;
  if (claims.iss !== idp.issuer) throw unauthenticated("TOKEN_INVALID", `the token was issued by ${JSON.stringify(claims.iss)}, not ${idp.issuer} (KILN_AUTH_ISSUER)`);
  if (idp.audience !== undefined && !audiences(claims.aud).includes(idp.audience)) {
    throw unauthenticated("TOKEN_INVALID", `the token is for ${JSON.stringify(claims.aud)}, not ${idp.audience} (KILN_AUTH_AUDIENCE)`);
  }
  if (typeof claims.exp !== "number") throw unauthenticated("TOKEN_MALFORMED", "the identity provider's token has no expiry (exp)");
  const subject = personOf(claims);
  if (claims.exp + LEEWAY_SECONDS <= nowSeconds) throw unauthenticated("TOKEN_EXPIRED", `the token of ${printable(subject)} expired at ${new Date(claims.exp * 1000).toISOString()}`, { subject });
  if (typeof claims.nbf === "number" && claims.nbf - LEEWAY_SECONDS > nowSeconds) throw unauthenticated("TOKEN_INVALID", `the token of ${printable(subject)} is not valid before ${new Date(claims.nbf * 1000).toISOString()}`);
  if (!subject) throw unauthenticated("TOKEN_MALFORMED", "the token names no one (preferred_username, email or sub)");
  return {
    sub: subject.slice(0, 200),
    role: roleOf(claims[idp.roleClaim], idp.roleClaim, subject),
    projects: projectsOf(claims[idp.projectsClaim], idp.projectsClaim, subject),
    iat: typeof claims.iat === "number" ? claims.iat : nowSeconds,
    exp: claims.exp,
    jti: typeof claims.jti === "string" ? claims.jti : parts[2].slice(0, 32),
    iss: idp.issuer,
  };
}

/** Whom a provider's token names: preferred_username, else email, else sub ("" when none). */
export function personOf(claims: Record<string, unknown>): string {
  return [claims.preferred_username, claims.email, claims.sub].find((v): v is string => typeof v === "string" && v !== "") ?? "";
}

function checkSignature([header, payload, signature]: [string, string, string], key: KeyObject, alg: (typeof ALGORITHMS)[string]): boolean {
  try {
    return verify(alg.hash, Buffer.from(`${header}.${payload}`), { key, ...alg.options }, Buffer.from(signature, "base64url"));
  } catch {
    return false; // a key of another type than the algorithm's
  }
}

function audiences(aud: unknown): unknown[] {
  return Array.isArray(aud) ? aud : [aud];
}

function roleOf(value: unknown, claim: string, subject: string): Role {
  // A provider may give several (a list of group-like roles): the highest Kiln role among them counts.
  const given = (Array.isArray(value) ? value : [value]).filter((v): v is Role => (ROLES as readonly unknown[]).includes(v));
  if (given.length === 0) {
    throw unauthenticated("TOKEN_NO_ROLE", `the token of ${printable(subject)} has no Kiln role in its ${claim} claim (one of ${ROLES.join(", ")}); the identity provider must add it`, { subject });
  }
  return given.reduce((a, b) => (ROLES.indexOf(b) > ROLES.indexOf(a) ? b : a));
}

function projectsOf(value: unknown, claim: string, subject: string): string[] {
  const list = (typeof value === "string" ? value.split(/[\s,]+/) : Array.isArray(value) ? value : []).filter((p): p is string => typeof p === "string" && p !== "");
  const projects = list.filter((p) => p === EVERY_PROJECT || isId(p));
  if (projects.length === 0) {
    throw unauthenticated("TOKEN_NO_ROLE", `the token of ${printable(subject)} names no project in its ${claim} claim (project ids, or "*"); the identity provider must add them`, { subject });
  }
  return projects;
}

import { permissionDenied, unauthenticated } from "../errors.js";
import { printable } from "../names.js";
import { verifyProviderToken, type IdentityProvider } from "./provider-token.js";
import { EVERY_PROJECT, ROLES, verifyToken, type Role, type TokenClaims } from "./token.js";

/** Verified tokens kept, so a call costs a map lookup rather than an HMAC (online predictions are ~1 ms). */
const CACHE_SIZE = 1024;
const DEFAULT_PROJECT_ID = "default";

/** What a call wants to do: the role it needs, and in which projects (none: any one will do). */
export interface Need {
  role: Role;
  projects: ReadonlySet<string>;
  /** Said in a denial: "StoreService/WriteDataset", "PUT /kiln/store/v1/chunks/". */
  what: string;
}

export interface AuthorizerOptions {
  /** Secrets of Kiln's own tokens (HS256); none: only the identity provider's are taken. */
  secrets: readonly string[];
  /** Ids (jti) of tokens refused although validly signed. */
  revoked?: readonly string[];
  /** An OpenID Connect provider whose tokens (RS256, ES256…) are taken too. */
  identityProvider?: IdentityProvider;
}

/**
 * Decides whether a caller may do something: its bearer token must be Kiln's own, signed
 * by one of the secrets, or the identity provider's, and unexpired; carry the role (or a
 * higher one); and name every project the call touches (or "*").
 */
export class Authorizer {
  private readonly verified = new Map<string, TokenClaims>();
  private readonly secrets: readonly string[];
  private readonly revoked: ReadonlySet<string>;
  private readonly identityProvider?: IdentityProvider;

  constructor(options: AuthorizerOptions) {
    if (options.secrets.length === 0 && !options.identityProvider) throw new Error("an authorizer needs a secret or an identity provider");
    this.secrets = options.secrets;
    this.revoked = new Set(options.revoked ?? []);
    this.identityProvider = options.identityProvider;
  }

  /** The caller's claims from an Authorization header ("Bearer <token>"); Unauthenticated without a good one. */
  async authenticate(authorization: string | undefined | null): Promise<TokenClaims> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!m) {
      throw unauthenticated(
        "TOKEN_REQUIRED",
        authorization ? "the Authorization header is not \"Bearer <token>\"" : "this server needs a token: send Authorization: Bearer <token> (the SDK and kiln take it from KILN_TOKEN)",
      );
    }
    const token = m[1]!;
    const now = Math.floor(Date.now() / 1000);
    const known = this.verified.get(token);
    if (known && (known.exp === undefined || known.exp > now)) return known;
    const claims = await this.verify(token, now);
    if (this.revoked.has(claims.jti)) throw unauthenticated("TOKEN_REVOKED", `the token ${claims.jti} of ${printable(claims.sub)} was revoked (KILN_AUTH_REVOKED_TOKENS)`, { subject: claims.sub });
    if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
    return claims;
  }

  /** Kiln's own tokens (HS256) by the secrets, others by the identity provider's keys. */
  private verify(token: string, now: number): TokenClaims | Promise<TokenClaims> {
    const parts = token.split(".");
    let header: { alg?: unknown; kid?: unknown } | undefined;
    try {
      header = parts.length === 3 ? (JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8")) as typeof header) : undefined;
    } catch {
      header = undefined;
    }
    if (!header || typeof header !== "object") throw unauthenticated("TOKEN_MALFORMED", "the token is not a JSON Web Token (three dot-separated parts, a JSON header first)");
    if (header.alg === "HS256") {
      if (this.secrets.length === 0) throw unauthenticated("TOKEN_INVALID", "this server takes no Kiln tokens (KILN_AUTH_SECRETS is unset), only its identity provider's");
      return verifyToken(token, this.secrets, now);
    }
    if (!this.identityProvider) throw unauthenticated("TOKEN_MALFORMED", `the token's algorithm is ${JSON.stringify(header.alg)}; this server takes Kiln's tokens (HS256) only, having no identity provider (KILN_AUTH_ISSUER)`);
    return verifyProviderToken(parts as [string, string, string], header, this.identityProvider, now);
  }

  /** PermissionDenied unless the claims allow what is needed. */
  authorize(claims: TokenClaims, need: Need): void {
    if (ROLES.indexOf(claims.role) < ROLES.indexOf(need.role)) {
      throw permissionDenied("ROLE_TOO_LOW", `${printable(claims.sub)}'s token (role ${claims.role}) cannot call ${need.what}: it needs ${need.role}`, { subject: claims.sub, role: need.role });
    }
    if (claims.projects.includes(EVERY_PROJECT)) return;
    for (const project of need.projects) {
      if (!claims.projects.includes(project)) {
        const shown = project === "-" ? "every project (projects/-)" : `project ${printable(project)}`;
        throw permissionDenied("PROJECT_NOT_ALLOWED", `${printable(claims.sub)}'s token does not reach ${shown}; it reaches ${claims.projects.join(", ")}`, { subject: claims.sub, project });
      }
    }
  }
}

/** The projects a call touches: those it names, or the default project when it names none (an empty parent means it). */
export function projectsTouched(named: ReadonlySet<string>): ReadonlySet<string> {
  return named.size > 0 ? named : new Set([DEFAULT_PROJECT_ID]);
}

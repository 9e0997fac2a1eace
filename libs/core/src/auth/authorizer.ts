import { permissionDenied, unauthenticated } from "../errors.js";
import { printable } from "../names.js";
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

/**
 * Decides whether a caller may do something: its bearer token must be signed by one of
 * the secrets and unexpired, carry the role (or a higher one), and name every project
 * the call touches (or "*").
 */
export class Authorizer {
  private readonly verified = new Map<string, TokenClaims>();
  private readonly revoked: ReadonlySet<string>;

  /** `revoked`: ids (jti) of tokens refused although signed by one of the secrets. */
  constructor(
    private readonly secrets: readonly string[],
    revoked: readonly string[] = [],
  ) {
    if (secrets.length === 0) throw new Error("an authorizer needs at least one secret");
    this.revoked = new Set(revoked);
  }

  /** The caller's claims from an Authorization header ("Bearer <token>"); Unauthenticated without a good one. */
  authenticate(authorization: string | undefined | null): TokenClaims {
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
    const claims = verifyToken(token, this.secrets, now);
    if (this.revoked.has(claims.jti)) throw unauthenticated("TOKEN_REVOKED", `the token ${claims.jti} of ${printable(claims.sub)} was revoked (KILN_AUTH_REVOKED_TOKENS)`, { subject: claims.sub });
    if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
    return claims;
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

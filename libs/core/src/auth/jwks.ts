import { createPublicKey, type KeyObject } from "node:crypto";
import type { Logger } from "pino";

/** After a miss (a key id it does not know), the key set is fetched again at most this often. */
const REFETCH_AFTER_MISS_MS = 30_000;
/** Keys are fetched again at most this long after the last fetch, so retired ones go. */
const MAX_AGE_MS = 3_600_000;
const FETCH_TIMEOUT_MS = 10_000;

interface Jwk {
  kid?: string;
  kty?: string;
  use?: string;
  alg?: string;
}

/**
 * An identity provider's public keys (a JSON Web Key Set, as OpenID Connect providers
 * publish at their jwks_uri), by key id. Fetched when first needed, again when a token
 * names a key it does not have (the provider rotated) but not more than every 30 s, and
 * at least hourly. Without a key set URL, the provider's discovery document
 * (`{issuer}/.well-known/openid-configuration`) names it.
 */
export class JwksKeys {
  private keys = new Map<string, { key: KeyObject; alg?: string }>();
  private fetchedAt = 0;
  private lastMissFetch = 0;
  private fetching: Promise<void> | undefined;
  private jwksUrl: string | undefined;
  private readonly discovery: string | undefined;

  constructor(
    source: { jwksUrl: string } | { issuer: string },
    private readonly logger?: Logger,
  ) {
    this.jwksUrl = "jwksUrl" in source ? source.jwksUrl : undefined;
    this.discovery = "issuer" in source ? `${source.issuer.replace(/\/$/, "")}/.well-known/openid-configuration` : undefined;
  }

  /** Where the keys come from, as errors name it. */
  get url(): string {
    return this.jwksUrl ?? this.discovery!;
  }

  /** The key with this id, fetching the set when it is unknown or old; undefined if the provider has none such. */
  async key(kid: string): Promise<{ key: KeyObject; alg?: string } | undefined> {
    const now = Date.now();
    if (now - this.fetchedAt > MAX_AGE_MS) await this.refresh();
    const known = this.keys.get(kid);
    if (known) return known;
    if (now - this.lastMissFetch < REFETCH_AFTER_MISS_MS) return undefined;
    this.lastMissFetch = now;
    await this.refresh();
    return this.keys.get(kid);
  }

  private refresh(): Promise<void> {
    this.fetching ??= this.fetchKeys().finally(() => (this.fetching = undefined));
    return this.fetching;
  }

  private async fetchKeys(): Promise<void> {
    try {
      if (!this.jwksUrl) {
        const jwksUri = ((await getJson(this.discovery!)) as { jwks_uri?: unknown }).jwks_uri;
        if (typeof jwksUri !== "string") throw new Error(`the discovery document ${this.discovery} names no jwks_uri`);
        this.jwksUrl = jwksUri;
      }
      const body = (await getJson(this.jwksUrl)) as { keys?: unknown };
      if (!Array.isArray(body.keys)) throw new Error('the answer has no "keys" array');
      const keys = new Map<string, { key: KeyObject; alg?: string }>();
      for (const jwk of body.keys as Jwk[]) {
        if (!jwk.kid || (jwk.use !== undefined && jwk.use !== "sig")) continue;
        try {
          keys.set(jwk.kid, { key: createPublicKey({ key: jwk as never, format: "jwk" }), alg: jwk.alg });
        } catch (e) {
          this.logger?.warn({ kid: jwk.kid, reason: (e as Error).message }, "a key of the identity provider's key set is not usable");
        }
      }
      this.keys = keys;
      this.fetchedAt = Date.now();
    } catch (e) {
      // The keys it had stay; tokens of keys it never had are refused meanwhile.
      this.logger?.warn({ url: this.url, reason: (e as Error).message }, "the identity provider's key set could not be fetched");
    }
  }
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

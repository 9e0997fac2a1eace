import { generateKeyPairSync, randomUUID, sign, constants, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface TestIdentityProvider {
  /** The OAuth client id its device login takes. */
  clientId: string;
  /** A device login waiting for `userCode` succeeds: its tokens carry `claims`. */
  approve(userCode: string, claims: Record<string, unknown>): void;
  /** Access tokens it gives from now on last this long (seconds). */
  setAccessTokenSeconds(seconds: number): void;
  /** Refresh grants it answered. */
  refreshes(): number;
  /** Its issuer URL (discovery at /.well-known/openid-configuration, keys at /jwks). */
  issuer: string;
  /** A token of it: `claims` over iss, a one-hour exp, iat and jti; signed with its current key (or `kid`'s). */
  token(claims: Record<string, unknown>, options?: { kid?: string; alg?: "RS256" | "ES256" | "PS256" }): string;
  /** Adds a key (the provider rotating) and signs with it from now on; returns its id. */
  rotate(): string;
  /** Times its key set was fetched. */
  fetches(): number;
  close(): Promise<void>;
}

interface Key {
  kid: string;
  rsa: { privateKey: KeyObject; publicKey: KeyObject };
  ec: { privateKey: KeyObject; publicKey: KeyObject };
}

/**
 * An OpenID Connect provider on a free port, as Keycloak or Auth0 would serve one to Kiln:
 * a discovery document, a JSON Web Key Set (RSA and P-256 keys) and tokens signed with
 * them, a device login (RFC 8628) whose approval the test gives in place of a person in
 * a browser, and refresh grants. Tests use it where no real provider can run.
 */
export async function startTestIdentityProvider(): Promise<TestIdentityProvider> {
  const keys: Key[] = [];
  const addKey = () => {
    const kid = `key-${keys.length + 1}`;
    keys.push({ kid, rsa: generateKeyPairSync("rsa", { modulusLength: 2048 }), ec: generateKeyPairSync("ec", { namedCurve: "P-256" }) });
    return kid;
  };
  addKey();
  let fetches = 0;
  let refreshes = 0;
  let issuer = "";
  let accessSeconds = 3600;
  const clientId = "kiln-cli";
  const devices = new Map<string, { userCode: string; claims?: Record<string, unknown> }>();
  const refreshTokens = new Map<string, Record<string, unknown>>();
  const tokens = (claims: Record<string, unknown>) => {
    const refresh = randomUUID();
    refreshTokens.set(refresh, claims);
    const exp = Math.floor(Date.now() / 1000) + accessSeconds;
    return { access_token: provider.token({ ...claims, exp }), refresh_token: refresh, token_type: "Bearer", expires_in: accessSeconds };
  };
  const server = http.createServer((req, res) => {
    const json = (body: unknown, status = 200) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.url === "/.well-known/openid-configuration") {
      return json({ issuer, jwks_uri: `${issuer}/jwks`, device_authorization_endpoint: `${issuer}/device`, token_endpoint: `${issuer}/token` });
    }
    if (req.method === "POST" && (req.url === "/device" || req.url === "/token")) {
      let body = "";
      req.on("data", (piece: Buffer) => (body += piece.toString()));
      req.on("end", () => {
        const form = new URLSearchParams(body);
        if (form.get("client_id") !== clientId) return json({ error: "invalid_client" }, 401);
        if (req.url === "/device") {
          const deviceCode = randomUUID();
          const userCode = `KILN-${devices.size + 1}`;
          devices.set(deviceCode, { userCode });
          return json({ device_code: deviceCode, user_code: userCode, verification_uri: `${issuer}/activate`, verification_uri_complete: `${issuer}/activate?code=${userCode}`, expires_in: 600, interval: 1 });
        }
        const grant = form.get("grant_type");
        if (grant === "urn:ietf:params:oauth:grant-type:device_code") {
          const device = devices.get(form.get("device_code") ?? "");
          if (!device) return json({ error: "expired_token" }, 400);
          if (!device.claims) return json({ error: "authorization_pending" }, 400);
          devices.delete(form.get("device_code")!);
          return json(tokens(device.claims));
        }
        if (grant === "refresh_token") {
          const claims = refreshTokens.get(form.get("refresh_token") ?? "");
          if (!claims) return json({ error: "invalid_grant" }, 400);
          refreshes++;
          return json(tokens(claims));
        }
        return json({ error: "unsupported_grant_type" }, 400);
      });
      return;
    }
    if (req.url === "/jwks") {
      fetches++;
      return json({
        keys: keys.flatMap((k) => [
          { ...k.rsa.publicKey.export({ format: "jwk" }), kid: k.kid, use: "sig" },
          { ...k.ec.publicKey.export({ format: "jwk" }), kid: `${k.kid}-ec`, use: "sig", alg: "ES256" },
        ]),
      });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider: TestIdentityProvider = {
    issuer,
    clientId,
    approve(userCode, claims) {
      const device = [...devices.values()].find((d) => d.userCode === userCode);
      if (!device) throw new Error(`no device login waits for ${userCode}`);
      device.claims = claims;
    },
    setAccessTokenSeconds: (seconds) => void (accessSeconds = seconds),
    refreshes: () => refreshes,
    token(claims, options = {}) {
      const alg = options.alg ?? "RS256";
      const key = keys.find((k) => options.kid === k.kid || options.kid === `${k.kid}-ec`) ?? keys.at(-1)!;
      const current = options.kid ?? keys.at(-1)!.kid;
      const kid = alg === "ES256" && !current.endsWith("-ec") ? `${current}-ec` : current;
      const now = Math.floor(Date.now() / 1000);
      const encode = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const body = `${encode({ alg, kid, typ: "JWT" })}.${encode({ iss: issuer, iat: now, exp: now + 3600, jti: randomUUID(), ...claims })}`;
      const signature =
        alg === "ES256"
          ? sign("sha256", Buffer.from(body), { key: key.ec.privateKey, dsaEncoding: "ieee-p1363" })
          : sign("sha256", Buffer.from(body), alg === "PS256" ? { key: key.rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key.rsa.privateKey);
      return `${body}.${signature.toString("base64url")}`;
    },
    rotate: addKey,
    fetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return provider;
}

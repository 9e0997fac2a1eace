import { generateKeyPairSync, randomUUID, sign, constants, type KeyObject } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface TestIdentityProvider {
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
 * a discovery document and a JSON Web Key Set (RSA and P-256 keys), and tokens signed
 * with them. Tests use it where no real provider can run.
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
  let issuer = "";
  const server = http.createServer((req, res) => {
    const json = (body: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.url === "/.well-known/openid-configuration") return json({ issuer, jwks_uri: `${issuer}/jwks` });
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
  return {
    issuer,
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
}

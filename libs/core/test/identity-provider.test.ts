import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { Code } from "@connectrpc/connect";
import { configuredAuthorizer, mintToken, serviceToken, type Authorizer } from "../src/auth/index.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { refusalOf } from "./refusals.js";
import { startTestIdentityProvider, type TestIdentityProvider } from "../src/testing/index.js";

const silent = pino({ level: "silent" });

describe("tokens of an OpenID Connect provider (KILN_AUTH_ISSUER)", () => {
  let idp: TestIdentityProvider;
  let auth: Authorizer;
  const person = { sub: "0b7c", preferred_username: "alice", aud: "kiln", kiln_role: "write", kiln_projects: ["churn"] };

  beforeAll(async () => {
    idp = await startTestIdentityProvider();
    // The key set found through the provider's discovery document, as for Keycloak or Auth0.
    auth = configuredAuthorizer(loadConfig({ KILN_AUTH_ISSUER: idp.issuer, KILN_AUTH_AUDIENCE: "kiln" }), silent)!;
  });
  afterAll(() => idp?.close());

  it("are taken when the provider signed them (RSA, PSS or P-256), its role and projects from their claims, the person by name", async () => {
    for (const alg of ["RS256", "PS256", "ES256"] as const) {
      const claims = await auth.authenticate(`Bearer ${idp.token(person, { alg })}`);
      expect(claims, alg).toMatchObject({ sub: "alice", role: "write", projects: ["churn"] });
    }
    // Several roles (group-like): the highest counts; projects as a space-separated string; no username: the email.
    const groups = await auth.authenticate(`Bearer ${idp.token({ sub: "x", email: "bo@example.com", aud: ["kiln", "other"], kiln_role: ["read", "admin", "viewer"], kiln_projects: "churn fraud" })}`);
    expect(groups).toMatchObject({ sub: "bo@example.com", role: "admin", projects: ["churn", "fraud"] });
  });

  it("are refused from another issuer, for another audience, expired, tampered with, or without a Kiln role", async () => {
    const reasons = async (claims: Record<string, unknown>) => (await refusalOf(auth.authenticate(`Bearer ${idp.token(claims)}`))).message;
    expect(await reasons({ ...person, iss: "https://evil.example" })).toContain("was issued by \"https://evil.example\"");
    expect(await reasons({ ...person, aud: "grafana" })).toContain('is for "grafana", not kiln');
    const expired = await refusalOf(auth.authenticate(`Bearer ${idp.token({ ...person, exp: Math.floor(Date.now() / 1000) - 120 })}`));
    expect([expired.code, expired.reason]).toEqual([Code.Unauthenticated, "TOKEN_EXPIRED"]);
    const [h, p, s] = idp.token(person).split(".");
    const raised = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), kiln_role: "admin" })).toString("base64url");
    expect((await refusalOf(auth.authenticate(`Bearer ${h}.${raised}.${s}`))).message).toContain("does not match the identity provider's key");
    const roleless = await refusalOf(auth.authenticate(`Bearer ${idp.token({ ...person, kiln_role: undefined })}`));
    expect([roleless.reason, roleless.message]).toEqual(["TOKEN_NO_ROLE", expect.stringContaining("no Kiln role in its kiln_role claim")]);
    expect((await refusalOf(auth.authenticate(`Bearer ${idp.token({ ...person, kiln_projects: [] })}`))).message).toContain("names no project in its kiln_projects claim");
  });

  it("follows the provider's key rotation, fetching its keys again for a key it has not seen, but not more than every 30 s", async () => {
    const before = idp.fetches();
    const kid = idp.rotate();
    expect((await auth.authenticate(`Bearer ${idp.token(person)}`)).sub).toBe("alice");
    expect(idp.fetches()).toBe(before + 1);
    const unknown = await refusalOf(auth.authenticate(`Bearer ${idp.token(person, { kid: "key-99" })}`));
    expect(unknown.message).toContain("key-99 is not in the identity provider's key set");
    expect(idp.fetches()).toBe(before + 1);
    expect(kid).toBe("key-2");
  });

  it("go beside Kiln's own tokens, which a process with only a provider signs with a secret of its own", async () => {
    const config = loadConfig({ KILN_AUTH_ISSUER: idp.issuer });
    const both = configuredAuthorizer(config, silent)!;
    expect((await both.authenticate(`Bearer ${serviceToken(config, "kiln-embedded-executor")}`)).role).toBe("service");
    const foreign = mintToken("f".repeat(32), { subject: "mallory", role: "admin", projects: ["*"] });
    expect((await refusalOf(both.authenticate(`Bearer ${foreign}`))).reason).toBe("TOKEN_INVALID");
  });

  it("are configured all or nothing", () => {
    expect(loadConfig({ KILN_AUTH_ISSUER: "https://id.example/realms/ml", KILN_AUTH_ROLE_CLAIM: "roles" }).identityProvider).toEqual({
      issuer: "https://id.example/realms/ml",
      roleClaim: "roles",
      projectsClaim: "kiln_projects",
    });
    expect(() => loadConfig({ KILN_AUTH_AUDIENCE: "kiln" })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_AUTH_AUDIENCE: "kiln" })).toThrow(/KILN_AUTH_AUDIENCE: needs KILN_AUTH_ISSUER/);
    expect(() => loadConfig({ KILN_AUTH_ISSUER: "id.example" })).toThrow(/must be the provider's issuer URL/);
    expect(configuredAuthorizer(loadConfig({}), silent)).toBeUndefined();
  });
});

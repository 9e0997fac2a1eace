import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { kilnFiles } from "@kiln/proto";
import { SubmitJobRequestSchema, JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { createClient, createRouterTransport, type ConnectError } from "@connectrpc/connect";
import pino from "pino";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { authInterceptor, callerOf, Authorizer, methodAccess, mintToken, projectsNamed, readTokenClaims, verifyToken, EVERY_PROJECT, type TokenClaims } from "../src/auth/index.js";
import { ConfigError, loadConfig, redactConfig } from "../src/config.js";
import { errorInterceptor } from "../src/error-interceptor.js";
import { refusal, refusalOf } from "./refusals.js";

const SECRET = "a".repeat(32);
const OLD_SECRET = "b".repeat(40);

describe("tokens", () => {
  it("are HS256 JSON Web Tokens whose claims come back as minted", () => {
    const token = mintToken(SECRET, { subject: "alice", role: "write", projects: ["churn", "default"], expiresInSeconds: 3600, now: 1_000 });
    const [header] = token.split(".");
    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toEqual({ alg: "HS256", typ: "JWT" });
    const claims = verifyToken(token, [SECRET], 2_000);
    expect(claims).toMatchObject({ sub: "alice", role: "write", projects: ["churn", "default"], iat: 1_000, exp: 4_600 });
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(readTokenClaims(token)).toEqual(claims);
  });

  it("are accepted under any of the secrets, so one can be retired after a rotation", () => {
    const old = mintToken(OLD_SECRET, { subject: "bob", role: "read", projects: [EVERY_PROJECT] });
    expect(verifyToken(old, [SECRET, OLD_SECRET]).sub).toBe("bob");
    expect(refusal(() => verifyToken(old, [SECRET])).reason).toBe("TOKEN_INVALID");
  });

  it("refuse tampered claims, other algorithms, expiry and garbage, each saying why", () => {
    const token = mintToken(SECRET, { subject: "carol", role: "read", projects: ["p"], expiresInSeconds: 10, now: 100 });
    const [h, , sig] = token.split(".");
    const raised = Buffer.from(JSON.stringify({ ...readTokenClaims(token), role: "admin" })).toString("base64url");
    expect(refusal(() => verifyToken(`${h}.${raised}.${sig}`, [SECRET], 105)).reason).toBe("TOKEN_INVALID");
    const none = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    const e = refusal(() => verifyToken(`${none}.${token.split(".")[1]}.`, [SECRET], 105));
    expect([e.code, e.reason, e.message]).toEqual([Code.Unauthenticated, "TOKEN_MALFORMED", expect.stringContaining("HS256 only")]);
    const expired = refusal(() => verifyToken(token, [SECRET], 110));
    expect([expired.reason, expired.message]).toEqual(["TOKEN_EXPIRED", "the token of carol expired at 1970-01-01T00:01:50.000Z"]);
    expect(refusal(() => verifyToken("not-a-token", [SECRET])).reason).toBe("TOKEN_MALFORMED");
  });

  it("are minted only with a long secret and sound claims", () => {
    expect(() => mintToken("short", { subject: "a", role: "read", projects: ["p"] })).toThrow(/at least 32 characters/);
    expect(() => mintToken(SECRET, { subject: "a", role: "owner" as never, projects: ["p"] })).toThrow(/role is "owner"/);
    expect(() => mintToken(SECRET, { subject: "a", role: "read", projects: [] })).toThrow(/names no projects/);
    expect(() => mintToken(SECRET, { subject: "a", role: "read", projects: ["a/b"] })).toThrow(/not a project id/);
  });
});

describe("the authorizer", () => {
  const auth = new Authorizer({ secrets: [SECRET] });
  const bearer = (claims: { role: TokenClaims["role"]; projects: string[] }) => `Bearer ${mintToken(SECRET, { subject: "dana", ...claims })}`;

  it("refuses a revoked token, by its id, while others of its secret still work", async () => {
    const leaked = mintToken(SECRET, { subject: "leaky", role: "admin", projects: [EVERY_PROJECT] });
    const strict = new Authorizer({ secrets: [SECRET], revoked: [readTokenClaims(leaked).jti] });
    const e = await refusalOf(strict.authenticate(`Bearer ${leaked}`));
    expect([e.code, e.reason, e.message]).toEqual([Code.Unauthenticated, "TOKEN_REVOKED", expect.stringContaining("of leaky was revoked")]);
    expect((await strict.authenticate(bearer({ role: "read", projects: ["p"] }))).sub).toBe("dana");
  });

  it("wants a bearer token", async () => {
    expect((await refusalOf(auth.authenticate(undefined))).reason).toBe("TOKEN_REQUIRED");
    expect((await refusalOf(auth.authenticate("Basic abc"))).message).toContain('not "Bearer <token>"');
    expect((await refusalOf(auth.authenticate("Bearer e30.e30.x"))).message).toContain("this server takes Kiln's tokens (HS256) only");
  });

  it("lets a role do what the roles below it do, in the projects it names", async () => {
    const writer = await auth.authenticate(bearer({ role: "write", projects: ["churn"] }));
    expect(() => auth.authorize(writer, { role: "read", projects: new Set(["churn"]), what: "X/Get" })).not.toThrow();
    expect(() => auth.authorize(writer, { role: "write", projects: new Set(["churn"]), what: "X/Put" })).not.toThrow();
    const low = refusal(() => auth.authorize(writer, { role: "admin", projects: new Set(["churn"]), what: "StoreService/DeleteDataset" }));
    expect([low.code, low.reason, low.message]).toEqual([Code.PermissionDenied, "ROLE_TOO_LOW", "dana's token (role write) cannot call StoreService/DeleteDataset: it needs admin"]);
    const elsewhere = refusal(() => auth.authorize(writer, { role: "read", projects: new Set(["churn", "fraud"]), what: "X/Get" }));
    expect([elsewhere.reason, elsewhere.message]).toEqual(["PROJECT_NOT_ALLOWED", "dana's token does not reach project fraud; it reaches churn"]);
    expect(refusal(() => auth.authorize(writer, { role: "read", projects: new Set(["-"]), what: "X/List" })).message).toContain("every project (projects/-)");
    const everywhere = await auth.authenticate(bearer({ role: "read", projects: [EVERY_PROJECT] }));
    expect(() => auth.authorize(everywhere, { role: "read", projects: new Set(["-", "fraud"]), what: "X/List" })).not.toThrow();
  });
});

describe("method access", () => {
  it("names every method of every Kiln service, and leaves health and reflection open", () => {
    const services = kilnFiles.flatMap((f) => f.services);
    expect(services.length).toBeGreaterThanOrEqual(7);
    const missing = services.flatMap((s) => s.methods.filter((m) => methodAccess(s.typeName, m.name) === undefined).map((m) => `${s.typeName}/${m.name}`));
    expect(missing).toEqual([]);
    expect(methodAccess("grpc.health.v1.Health", "Check")).toEqual({ role: "open" });
    expect(methodAccess("kiln.store.v1.StoreService", "DeleteDataset")).toEqual({ role: "admin" });
    expect(methodAccess("kiln.runtime.v1.ExecutorService", "Heartbeat")).toEqual({ role: "service", unscoped: true });
    expect(methodAccess("kiln.store.v1.StoreService", "NoSuchMethod")).toBeUndefined();
  });

  it("finds the projects a request names, however deep", () => {
    const req = create(SubmitJobRequestSchema, {
      parent: "projects/churn",
      job: { kind: JobKind.PREDICT, model: "projects/models-lib/models/m/versions/latest", x: { dataset: "projects/data/datasets/x" } },
    });
    expect([...projectsNamed(req)].sort()).toEqual(["churn", "data", "models-lib"]);
    expect([...projectsNamed({ parent: "" })]).toEqual([]);
    expect([...projectsNamed({ bytes: new Uint8Array([112, 114]), text: "not projects/x" })]).toEqual([]);
  });
});

describe("auth configuration", () => {
  it("takes comma-separated secrets, refuses short ones, and keeps secrets and tokens out of the log", () => {
    const c = loadConfig({ KILN_AUTH_SECRETS: `${SECRET}, ${OLD_SECRET}`, KILN_TOKEN: "t.o.k" });
    expect(c.authSecrets).toEqual([SECRET, OLD_SECRET]);
    expect(c.runtime.token).toBe("t.o.k");
    expect(JSON.stringify(redactConfig(c))).not.toMatch(/aaaa|bbbb|t\.o\.k/);
    expect(loadConfig({}).authSecrets).toEqual([]);
    expect(loadConfig({ KILN_AUTH_REVOKED_TOKENS: " a-1, b-2 ," }).revokedTokens).toEqual(["a-1", "b-2"]);
    expect(() => loadConfig({ KILN_AUTH_SECRETS: "short" })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_AUTH_SECRETS: "short" })).toThrow(/KILN_AUTH_SECRETS: secret 1 has 5 characters/);
  });
});

describe("the auth interceptor", () => {
  it("hands handlers the caller, logs deletes and refusals with who, and refuses an upload at its first message", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const seen: string[] = [];
    const transport = createRouterTransport(
      (router) =>
        router.service(StoreService, {
          getDataset: (_req, ctx) => {
            seen.push(callerOf(ctx));
            return {};
          },
          deleteDataset: () => ({}),
          async writeDataset(requests) {
            for await (const _ of requests) seen.push("written");
            return {};
          },
        }),
      // As the server orders them: errors mapped to codes around the token check.
      { router: { interceptors: [errorInterceptor(pino({ level: "silent" })), authInterceptor(new Authorizer({ secrets: [SECRET] }), logger)] } },
    );
    const as = (role: TokenClaims["role"], projects = ["churn"]) => ({ headers: { authorization: `Bearer ${mintToken(SECRET, { subject: `erin-${role}`, role, projects })}` } });
    const store = createClient(StoreService, transport);
    await store.getDataset({ name: "projects/churn/datasets/x" }, as("read"));
    expect(seen).toEqual(["erin-read"]);
    await store.deleteDataset({ name: "projects/churn/datasets/x" }, as("admin"));
    await expect(store.deleteDataset({ name: "projects/churn/datasets/x" }, as("write"))).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(store.getDataset({ name: "projects/churn/datasets/x" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    const upload = async function* () {
      yield { message: { case: "header" as const, value: { name: "projects/fraud/datasets/y" } } };
      yield { message: { case: "chunk" as const, value: { data: new Uint8Array(8) } } };
    };
    const refused = (await store.writeDataset(upload() as never, as("write")).catch((e: unknown) => e)) as ConnectError;
    expect([refused.code, refused.rawMessage]).toEqual([Code.PermissionDenied, "erin-write's token does not reach project fraud; it reaches churn"]);
    expect(seen).toEqual(["erin-read"]);
    const logged = lines.map((l) => [l.msg, l.subject ?? null, l.procedure, l.reason ?? null]);
    expect(logged).toEqual([
      ["call", "erin-admin", "StoreService/DeleteDataset", null],
      ["call refused", "erin-write", "StoreService/DeleteDataset", "ROLE_TOO_LOW"],
      ["call refused", null, "StoreService/GetDataset", "TOKEN_REQUIRED"],
      ["call refused", "erin-write", "StoreService/WriteDataset", "PROJECT_NOT_ALLOWED"],
    ]);
  });
});

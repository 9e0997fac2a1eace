import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kiln } from "../src/index.js";
import { credentialsPath, readCredentials, storedLoginToken, writeCredentials, type StoredCredentials } from "../src/login.js";

const jwt = (n: number) => `e30.${Buffer.from(JSON.stringify({ n })).toString("base64url")}.sig`;

describe("a stored login (kiln login's)", () => {
  let dir: string;
  let server: http.Server;
  let endpoint: string;
  const grants: URLSearchParams[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-login-"));
    // A provider's token endpoint: refresh grants of "good" succeed (slowly, so calls overlap), others are refused.
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (p: Buffer) => (body += p.toString()));
      req.on("end", () => {
        const form = new URLSearchParams(body);
        grants.push(form);
        const answer = form.get("refresh_token") === "good" ? { status: 200, json: { access_token: jwt(grants.length), refresh_token: "good", expires_in: 3600 } } : { status: 400, json: { error: "invalid_grant" } };
        setTimeout(() => res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.json)), 50);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });
  afterAll(async () => {
    server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const expiring = (refreshToken?: string): StoredCredentials => ({
    issuer: "https://id.example",
    clientId: "kiln-cli",
    tokenEndpoint: endpoint,
    token: jwt(0),
    ...(refreshToken && { refreshToken }),
    obtainedAt: Date.now() - 3_590_000,
    expiresAt: Date.now() + 10_000,
  });

  it("lives in the user's config folder, readable by the user alone", async () => {
    expect(credentialsPath({ XDG_CONFIG_HOME: "/x" })).toBe("/x/kiln/credentials.json");
    const path = join(dir, "a", "credentials.json");
    await writeCredentials(expiring("good"), path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readCredentials(path))?.clientId).toBe("kiln-cli");
    expect(await readCredentials(join(dir, "none.json"))).toBeUndefined();
  });

  it("is renewed once however many calls want it as it is about to expire, and kept again", async () => {
    const path = join(dir, "b", "credentials.json");
    const token = storedLoginToken(expiring("good"), path);
    const before = grants.length;
    const tokens = await Promise.all([token(), token(), token(), token()]);
    expect(grants.length).toBe(before + 1);
    expect(grants.at(-1)!.get("grant_type")).toBe("refresh_token");
    expect(grants.at(-1)!.get("client_id")).toBe("kiln-cli");
    expect(new Set(tokens)).toEqual(new Set([jwt(before + 1)]));
    expect(JSON.parse(await readFile(path, "utf8"))).toMatchObject({ token: jwt(before + 1), refreshToken: "good" });
    expect(await token()).toBe(jwt(before + 1)); // an hour left: not renewed
    expect(grants.length).toBe(before + 1);
  });

  it("is left out when its file is not one: Kiln.connect goes on without a token", async () => {
    const home = join(dir, "corrupt");
    await mkdir(join(home, "kiln"), { recursive: true });
    await writeFile(join(home, "kiln", "credentials.json"), "{ not json");
    const before = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = home;
    try {
      const kiln = await Kiln.connect({ url: "http://127.0.0.1:1" });
      kiln.close();
    } finally {
      if (before === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = before;
    }
  });

  it("says to log in again when it cannot be renewed", async () => {
    await expect(storedLoginToken(expiring(), join(dir, "c.json"))()).rejects.toMatchObject({ reason: "LOGIN_EXPIRED", message: expect.stringContaining("run kiln login again") });
    await expect(storedLoginToken(expiring("revoked"), join(dir, "d.json"))()).rejects.toMatchObject({ reason: "LOGIN_EXPIRED", message: expect.stringContaining("invalid_grant") });
  });
});

// What checking tokens costs: the same client work against two embedded servers, one with
// KILN_AUTH_SECRETS (every call's bearer token verified: a cached lookup after its first
// HMAC) and one without, in the same run, rounds alternating between them (each first in
// every other round).
// Measured, best of --rounds each:
//   a small unary call (GetDataset) one after another, p50;
//   online predict: --requests 1-row predictions of a deployed linear model one after another
//     (p50) and with --concurrency in flight (requests/s);
//   dataset read: a table of --rows rows of 8 float64 columns read back by chunk GETs, MB/s.
// And in this process: verifying a token (HMAC-SHA256 and its claims) vs the authorizer's
// cached lookup, per call; an identity provider's tokens (RS256, ES256) the first time each is seen.
// Prints each figure without and with tokens, and with / without (latency: higher is worse;
// throughput: lower is worse).
// Usage: node bench/auth/tokens.mjs [--requests 2000] [--concurrency 32] [--rows 1000000] [--rounds 3]
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Authorizer, configuredAuthorizer, EVERY_PROJECT, loadConfig, mintToken, verifyToken } from "@kiln/core";
import { startTestIdentityProvider } from "@kiln/core/testing";
import { Kiln } from "@kiln/sdk";
import { bestOfRounds, countArgs, load, startKiln } from "../lib.mjs";
import { featureColumns, fittedModel, oneRowTables, rawReadMBps, wideTable } from "../runtime/rows.mjs";

const { requests, concurrency, rows, rounds } = countArgs({ requests: 2000, concurrency: 32, rows: 1_000_000, rounds: 3 });

const SECRET = "bench-secret-0123456789abcdef0123456789";
const token = mintToken(SECRET, { subject: "bench", role: "admin", projects: [EVERY_PROJECT] });

async function perCallMicros(n, fn) {
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn();
  return ((performance.now() - t) * 1000) / n;
}
const authorizer = new Authorizer({ secrets: [SECRET] });
const header = `Bearer ${token}`;
const verifyUs = await perCallMicros(20_000, () => verifyToken(token, [SECRET]));
const cachedUs = await perCallMicros(200_000, () => authorizer.authenticate(header));
// An identity provider's tokens: a signature check with its public key the first time a token is seen.
const idp = await startTestIdentityProvider();
const withProvider = configuredAuthorizer(loadConfig({ KILN_AUTH_ISSUER: idp.issuer }), { warn() {} }) // the key set's only log;
const person = { sub: "bench", kiln_role: "read", kiln_projects: ["*"] };
await withProvider.authenticate(`Bearer ${idp.token(person)}`); // fetches the key set once
const providerUs = {};
for (const alg of ["RS256", "ES256"]) {
  const fresh = Array.from({ length: 2_000 }, () => `Bearer ${idp.token(person, { alg })}`);
  let i = 0;
  providerUs[alg] = await perCallMicros(fresh.length, () => withProvider.authenticate(fresh[i++]));
}
await idp.close();

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-auth-"));
const servers = [];
const clients = [];
try {
  const open = await startKiln({ KILN_DATA_DIR: join(dir, "open") });
  const checked = await startKiln({ KILN_DATA_DIR: join(dir, "checked"), KILN_AUTH_SECRETS: SECRET });
  servers.push(open, checked);
  const sides = [
    ["without", await Kiln.connect({ url: open.url, services: {}, token: "" })],
    ["with", await Kiln.connect({ url: checked.url, services: {}, token })],
  ];
  const columns = featureColumns(1000);
  const inputs = oneRowTables(columns);
  const wide = wideTable(rows);
  for (const [, kiln] of sides) {
    clients.push(kiln);
    await kiln.models.put("bench-linear", fittedModel("linear", columns));
    await kiln.deployments.create("bench", { model: "bench-linear" });
    await kiln.datasets.put("wide", wide);
  }

  const { best, keep, lower, higher } = bestOfRounds();
  for (let round = 1; round <= rounds; round++) {
    // Each side goes first in every other round.
    for (const [side, kiln] of round % 2 ? sides : [...sides].reverse()) {
      process.stderr.write(`round ${round} of ${rounds}: ${side} tokens\n`);
      const unary = () => kiln.datasets.info("wide");
      await load(100, 1, unary);
      keep(`${side}.unary`, (await load(requests, 1, unary)).p50, lower);
      const predict = (i) => kiln.deployments.predict("bench", inputs[i % inputs.length]);
      await load(100, 1, predict);
      keep(`${side}.p50`, (await load(requests, 1, predict)).p50, lower);
      keep(`${side}.loaded`, (await load(requests, concurrency, predict)).perSecond, higher);
      keep(`${side}.read`, await rawReadMBps(kiln, "wide"), higher);
    }
  }

  const row = (label, unit, name, digits) => {
    const a = best[`without.${name}`];
    const b = best[`with.${name}`];
    console.log(`${label.padEnd(36)} without ${a.toFixed(digits).padStart(8)} ${unit.padEnd(6)} with ${b.toFixed(digits).padStart(8)} ${unit.padEnd(6)} with/without ${(b / a).toFixed(2)}`);
  };
  console.log(`tokens checked vs not, best of ${rounds} rounds; ${requests} calls each, ${concurrency} in flight; a ${(rows * 64 / 1e6).toFixed(0)} MB table`);
  row("unary call p50 (GetDataset)", "ms", "unary", 3);
  row("online predict p50 (sequential)", "ms", "p50", 3);
  row(`online predict, ${concurrency} in flight`, "req/s", "loaded", 0);
  row("dataset read (chunk GETs)", "MB/s", "read", 0);
  console.log(`${"a token verified (HMAC, claims)".padEnd(36)} ${verifyUs.toFixed(2)} µs a call; cached ${cachedUs.toFixed(2)} µs (${(verifyUs / cachedUs).toFixed(1)}x)`);
  console.log(`${"a provider's token seen first".padEnd(36)} RS256 ${providerUs.RS256.toFixed(1)} µs, ES256 ${providerUs.ES256.toFixed(1)} µs (${(providerUs.RS256 / cachedUs).toFixed(0)}x, ${(providerUs.ES256 / cachedUs).toFixed(0)}x a cached one)`);
} finally {
  for (const c of clients) c.close();
  for (const s of servers) {
    s.child.kill("SIGTERM");
    await once(s.child, "exit");
  }
  await rm(dir, { recursive: true, force: true });
}

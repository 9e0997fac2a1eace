// What the path-routing proxy (deploy/proxy/Caddyfile, Caddy) costs: the same client work against
// embedded Kiln directly and through Caddy in front of it (all four upstreams at that one server),
// in the same run, rounds alternating between the two.
// Measured, best of --rounds each:
//   online predict: --requests 1-row predictions of a deployed linear model one after another
//     (p50/p99) and with --concurrency in flight (requests/s);
//   dataset read: a dataset of --rows rows of 8 float64 columns read back (readRaw: the chunks as
//     they come, by plain HTTP/2 GETs, no Arrow decoding), MB/s;
//   dataset write: the same table put, MB/s.
// Prints each figure direct and through the proxy, and proxy / direct (latency: higher is worse;
// throughput: lower is worse).
// Usage: node bench/deploy/proxy.mjs [--requests 2000] [--concurrency 32] [--rows 2000000] [--rounds 3]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableToIPC } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { freePort } from "@kiln/bus/testing";
import { bestOfRounds, countArgs, load, repoRoot, startKiln } from "../lib.mjs";
import { featureColumns, fittedModel, oneRowTables, rawReadMBps, wideTable } from "../runtime/rows.mjs";

const { requests, concurrency, rows, rounds } = countArgs({ requests: 2000, concurrency: 32, rows: 2_000_000, rounds: 3 });

async function startCaddy(upstream, home) {
  const port = await freePort("127.0.0.1");
  const host = new URL(upstream).host;
  const env = { ...process.env, KILN_PROXY_PORT: String(port), XDG_CONFIG_HOME: home, XDG_DATA_HOME: home };
  for (const name of ["KILN_STORE_ADDR", "KILN_REGISTRY_ADDR", "KILN_TRACKING_ADDR", "KILN_SCHEDULER_ADDR"]) env[name] = host;
  const child = spawn("caddy", ["run", "--config", join(repoRoot, "deploy/proxy/Caddyfile"), "--adapter", "caddyfile"], { env, stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return { child, url };
    if (child.exitCode !== null || i > 300) throw new Error("caddy did not start (is it installed? apt-get install caddy)");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-proxy-"));
let server, caddy;
const clients = [];
try {
  server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
  caddy = await startCaddy(server.url, join(dir, "caddy"));
  const columns = featureColumns(1000);
  const direct = await Kiln.connect(server.url);
  const proxied = await Kiln.connect({ url: caddy.url, services: {} });
  clients.push(direct, proxied);
  await direct.models.put("bench-linear", fittedModel("linear", columns));
  await direct.deployments.create("bench", { model: "bench-linear" });
  const inputs = oneRowTables(columns);

  const table = wideTable(rows);
  const megabytes = tableToIPC(table, "stream").byteLength / 1e6;
  await direct.datasets.put("wide", table);

  const { best, keep, lower, higher } = bestOfRounds();
  for (let round = 1; round <= rounds; round++) {
    for (const [side, kiln] of [["direct", direct], ["proxy", proxied]]) {
      const predict = (i) => kiln.deployments.predict("bench", inputs[i % inputs.length]);
      process.stderr.write(`round ${round} of ${rounds}: ${side}\n`);
      await load(100, 1, predict); // warm the connection and the path
      const seq = await load(requests, 1, predict);
      keep(`${side}.p50`, seq.p50, lower);
      keep(`${side}.p99`, seq.p99, lower);
      keep(`${side}.loaded`, (await load(requests, concurrency, predict)).perSecond, higher);

      keep(`${side}.read`, await rawReadMBps(kiln, "wide"), higher);

      const t = performance.now();
      await kiln.datasets.put(`wide-${side}`, table);
      keep(`${side}.write`, megabytes / ((performance.now() - t) / 1000), higher);
    }
  }

  const row = (label, unit, name, digits) => {
    const d = best[`direct.${name}`];
    const p = best[`proxy.${name}`];
    console.log(`${label.padEnd(34)} direct ${d.toFixed(digits).padStart(8)} ${unit.padEnd(6)} proxy ${p.toFixed(digits).padStart(8)} ${unit.padEnd(6)} proxy/direct ${(p / d).toFixed(2)}`);
  };
  console.log(`proxy (Caddy) vs direct, best of ${rounds} rounds; ${requests} 1-row predictions, ${concurrency} in flight; a ${megabytes.toFixed(0)} MB table`);
  row("online predict p50 (sequential)", "ms", "p50", 2);
  row("online predict p99 (sequential)", "ms", "p99", 2);
  row(`online predict, ${concurrency} in flight`, "req/s", "loaded", 0);
  row("dataset read (chunks over HTTP/2)", "MB/s", "read", 0);
  row("dataset write", "MB/s", "write", 0);
} finally {
  for (const c of clients) c.close();
  caddy?.child.kill("SIGKILL");
  if (server) {
    server.child.kill("SIGTERM");
    await once(server.child, "exit");
  }
  await rm(dir, { recursive: true, force: true });
}

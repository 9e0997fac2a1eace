import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import type { Addresses } from "./addresses.js";

export interface Caddy {
  url: string;
  stop(): Promise<void>;
}

/** `{$NAME:default}` placeholders of a Caddyfile: what it reads from its environment. */
export function caddyVariables(caddyfile: string): Map<string, string> {
  const text = readFileSync(caddyfile, "utf8");
  return new Map([...text.matchAll(/\{\$([A-Z0-9_]+)(?::([^}]*))?\}/g)].map((m) => [m[1]!, m[2] ?? ""]));
}

/**
 * Caddy as the proxy container runs it, on `port`: its variables as the plan sets them or
 * their defaults, with the stack's addresses made local.
 */
export async function startCaddy(caddyfile: string, env: Record<string, string>, port: number, addresses: Addresses, home: string): Promise<Caddy> {
  const vars: Record<string, string> = {};
  for (const [name, fallback] of caddyVariables(caddyfile)) vars[name] = addresses.rewrite(env[name] ?? fallback, `Caddyfile {$${name}}`);
  vars.KILN_PROXY_PORT = String(port);
  // Caddy keeps its autosaved config and certificates under XDG folders: a temp one, not ~.
  const child = spawn("caddy", ["run", "--config", caddyfile, "--adapter", "caddyfile"], {
    env: { ...process.env, ...vars, XDG_CONFIG_HOME: home, XDG_DATA_HOME: home },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.on("error", (e) => (stderr = `${e.message} (is Caddy installed? apt-get install caddy)`));
  const url = `http://127.0.0.1:${port}`;
  await untilAnswering(child, `${url}/healthz`, () => stderr);
  const exited = once(child, "exit");
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function untilAnswering(child: ChildProcess, url: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.pid === undefined) throw new Error(`caddy did not start: ${log()}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`caddy did not answer ${url} within 15 s: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort } from "./free-port.js";

export interface NatsServerOptions {
  /** JetStream store directory; a fresh temp dir (removed by stop()) when omitted. */
  storeDir?: string;
  /** Fixed port; a free one when omitted. */
  port?: number;
  /** How long to wait for the server to accept JetStream requests. Default 15 s. */
  readyTimeoutMs?: number;
}

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** The running server's process id (a new one after restart()). */
  readonly pid: number | undefined;
  /** SIGTERM and wait for exit; removes the store dir if this helper created it. */
  stop(): Promise<void>;
  /** Stop and start again on the same port and store dir: stored messages and consumers survive. */
  restart(): Promise<void>;
}

const HOST = "127.0.0.1";
const BIND_ATTEMPTS = 5;
// apt installs nats-server to /usr/sbin, which is often not on a non-root PATH.
const SEARCH_PATH = [process.env.PATH ?? "", "/usr/sbin", "/usr/local/sbin", "/usr/local/bin"].join(":");

/** Starts a throwaway `nats-server -js` for tests, on a free port with its own store dir. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const ownsStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), "kiln-nats-")));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;
  let port = opts.port ?? 0;
  let proc: ChildProcess | undefined;
  let stopped = false;

  for (let attempt = 1; ; attempt++) {
    if (opts.port === undefined) port = await freePort(HOST);
    try {
      proc = await launch(port, storeDir, readyTimeoutMs);
      break;
    } catch (e) {
      // Only a lost race for an OS-chosen port is worth retrying.
      if (!(e instanceof PortInUseError) || opts.port !== undefined || attempt >= BIND_ATTEMPTS) {
        if (ownsStore) await rm(storeDir, { recursive: true, force: true });
        throw e;
      }
    }
  }

  return {
    url: `nats://${HOST}:${port}`,
    port,
    storeDir,
    get pid() {
      return proc?.pid;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate(proc);
      if (ownsStore) await rm(storeDir, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error("nats-server was stopped; restart() needs a running server");
      await terminate(proc);
      // The old listener can linger briefly after exit; retry the same port within the ready budget.
      const deadline = Date.now() + readyTimeoutMs;
      for (;;) {
        try {
          proc = await launch(port, storeDir, Math.max(1000, deadline - Date.now()));
          return;
        } catch (e) {
          if (!(e instanceof PortInUseError) || Date.now() > deadline) throw e;
          await sleep(100);
        }
      }
    },
  };
}

class PortInUseError extends Error {}

async function launch(port: number, storeDir: string, readyTimeoutMs: number): Promise<ChildProcess> {
  const args = ["-js", "-a", HOST, "-p", String(port), "-sd", storeDir];
  const proc = spawn("nats-server", args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PATH: SEARCH_PATH },
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  proc.stdout?.on("data", collect);
  proc.stderr?.on("data", collect);

  const killOnExit = () => proc.kill("SIGKILL");
  process.once("exit", killOnExit);
  proc.once("exit", () => process.removeListener("exit", killOnExit));

  const failed = new Promise<never>((_, reject) => {
    proc.once("error", (e: NodeJS.ErrnoException) => {
      reject(
        e.code === "ENOENT"
          ? new Error("nats-server not found on PATH (or /usr/sbin): install it with `apt-get install -y nats-server`")
          : e,
      );
    });
    proc.once("exit", (code, signal) => {
      const msg = `nats-server exited early (code ${code}, signal ${signal}) on port ${port}:\n${output}`;
      reject(/address already in use/i.test(output) ? new PortInUseError(msg) : new Error(msg));
    });
  });
  failed.catch(() => {});

  try {
    await Promise.race([failed, waitReady(`${HOST}:${port}`, readyTimeoutMs, () => output)]);
    return proc;
  } catch (e) {
    await terminate(proc);
    throw e;
  }
}

/** Ready means JetStream answers, not just that the port accepts TCP. */
async function waitReady(server: string, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const nc = await connect({ servers: server, reconnect: false, timeout: 1000 });
      try {
        await (await jetstreamManager(nc, { timeout: 1000 })).getAccountInfo();
        return;
      } finally {
        await nc.close();
      }
    } catch (e) {
      last = e;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
  throw new Error(`nats-server on ${server} not ready after ${timeoutMs} ms: ${String(last)}\n${output()}`);
}

async function terminate(proc: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  // No pid: spawn itself failed and there is nothing to wait for.
  if (!proc || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

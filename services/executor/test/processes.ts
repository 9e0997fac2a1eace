import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";

const services = join(import.meta.dirname, "../..");

export interface ServiceProcess {
  child: ChildProcess;
  /** The server's URL (services that listen). */
  url: string;
  stop(): Promise<void>;
  /** SIGKILL: no cleanup, like a crash. */
  kill(): Promise<void>;
}

/**
 * Starts `services/{name}/dist/main.js` with KILN_* variables and waits for the log line
 * saying it is ready ("listening" for servers, "executor running" for executors).
 */
export async function startService(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [join(services, name, "dist/main.js")], {
    env: { ...process.env, KILN_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  let url = "";
  for await (const line of lines) {
    const entry = JSON.parse(line) as { msg: string; url?: string };
    if (entry.msg === "listening") url = entry.url!;
    if (entry.msg === "listening" || entry.msg === "executor running") break;
  }
  if (child.exitCode !== null) throw new Error(`${name} exited before it was ready`);
  child.stdout!.resume(); // keep draining its log
  const exited = once(child, "exit");
  return {
    child,
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
  };
}

import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

export interface ServiceProcess {
  child: ChildProcess;
  /** The server's URL (services that listen). */
  url: string;
  /** Its log entries, from its start. */
  logs: { msg: string; [field: string]: unknown }[];
  stop(): Promise<void>;
  /** SIGKILL: no cleanup, like a crash. */
  kill(): Promise<void>;
}

/**
 * Starts a Kiln service's entry point (`services/{name}/dist/main.js`) in a Node.js process
 * of its own with KILN_* variables, and waits for the log line saying it is ready
 * ("listening" for servers, "executor running" for executors). `args` follow the script
 * (`kiln serve`'s "serve").
 */
export async function startNodeService(script: string, env: Record<string, string>, args: readonly string[] = []): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, KILN_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  let url = "";
  const logs: ServiceProcess["logs"] = [];
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const entry = JSON.parse(next.value) as ServiceProcess["logs"][number] & { url?: string };
    logs.push(entry);
    if (entry.msg === "listening") url = entry.url!;
    if (entry.msg === "listening" || entry.msg === "executor running") break;
  }
  if (child.exitCode !== null) throw new Error(`${script} exited before it was ready`);
  void (async () => {
    for (let next = await lines.next(); !next.done; next = await lines.next()) {
      if (next.value.startsWith("{")) logs.push(JSON.parse(next.value) as ServiceProcess["logs"][number]);
    }
  })();
  const exited = once(child, "exit");
  return {
    child,
    url,
    logs,
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

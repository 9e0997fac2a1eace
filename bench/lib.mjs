import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Starts embedded Kiln as a child process; resolves with its URL and pid. */
export async function startKiln(env) {
  // e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, `${repoRoot}/services/all-in-one/dist/main.js`], {
    env: { ...process.env, KILN_PORT: "0", KILN_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  for await (const line of createInterface({ input: child.stdout })) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line);
    if (entry.msg === "listening") {
      child.stdout.resume();
      return { child, url: entry.url, pid: child.pid };
    }
  }
  throw new Error("Kiln exited before listening");
}

/** Starts an executor process (KILN_* in env); resolves with its child process once it runs. */
export async function startExecutor(env) {
  // e.g. BENCH_EXECUTOR_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the executor.
  const nodeArgs = (process.env.BENCH_EXECUTOR_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, `${repoRoot}/services/executor/dist/main.js`], { env: { ...process.env, KILN_LOG_LEVEL: "info", ...env }, stdio: ["ignore", "pipe", "inherit"] });
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith("{") && JSON.parse(line).msg === "executor running") break;
  }
  child.stdout.resume();
  return child;
}

/** Peak resident set size of a process, in MiB (Linux VmHWM). */
export function peakRssMiB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far (Linux /proc, 10 ms ticks). */
export function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs fn and adds the CPU seconds it cost the server (pid) and this process. */
export async function timedWithCpu(pid, fn) {
  const server = cpuSeconds(pid);
  const client = process.cpuUsage();
  const run = await timed(fn);
  const used = process.cpuUsage(client);
  return { ...run, serverCpu: cpuSeconds(pid) - server, clientCpu: (used.user + used.system) / 1e6 };
}

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** Counts given as --name N (whole numbers of at least 1), each with its default: { requests: 2000, … }. */
export function countArgs(defaults) {
  return Object.fromEntries(
    Object.entries(defaults).map(([name, fallback]) => {
      const n = Number(arg(name, String(fallback)));
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} is a whole number >= 1`);
      return [name, n];
    }),
  );
}

export async function timed(fn) {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

/** The fastest of `rounds` runs of fn, in milliseconds. */
export async function bestMs(rounds, fn) {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

export const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** n calls of fn(i), `inFlight` at a time: per-call milliseconds (p50, p99) and calls per second. */
export async function load(n, inFlight, fn) {
  const ms = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await fn(i);
        ms.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), perSecond: n / seconds };
}

/** The best figure of each name over rounds: keep(name, value, lower) for latencies, keep(name, value, higher) for rates. */
export function bestOfRounds() {
  const best = {};
  const keep = (name, value, better) => {
    if (best[name] === undefined || better(value, best[name])) best[name] = value;
  };
  return { best, keep, lower: (a, b) => a < b, higher: (a, b) => a > b };
}

/** A POST to MLflow's REST API at `url` (`path` after /api/2.0/mlflow/): its JSON answer, or an error naming the status. */
export function mlflowPost(url) {
  return async (path, body) => {
    const res = await fetch(new URL(`/api/2.0/mlflow/${path}`, url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const answer = await res.json();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(answer)}`);
    return answer;
  };
}

import { spawn } from "node:child_process";
import { OnnxFormatError, trimMessage } from "./errors.js";
import type { OnnxSummary } from "./inspect.js";

export interface ProcessCheckOptions {
  /** Kills the check after this long once the file is given (default 120 s). */
  timeoutMs?: number;
}

/**
 * The model to check: one file, or the files of its consecutive parts (read in place; the
 * checker writes its scratch files in `workDir`, which must allow sparse files to be cheap).
 */
export type CheckInput = { path: string } | { parts: string[]; workDir: string };

/** A checker process started ahead of time; give it the file when the file is complete. */
export interface PendingOnnxCheck {
  check(file: string | CheckInput): Promise<OnnxSummary>;
  /** Ends the process without a check (the upload failed). */
  cancel(): void;
}

type Report = { ok: boolean; summary?: OnnxSummary; stage?: "parse" | "load"; message?: string };

/**
 * Starts a child process that will parse a model file and load it in onnxruntime.
 * Uploaded models are untrusted input to native code: a crash or an abort there ends
 * the child, not the server, and the memory a big model takes while loading goes back
 * when the child exits. Starting it before the file is complete hides its start-up.
 */
export function startOnnxCheck(options: ProcessCheckOptions = {}): PendingOnnxCheck {
  return spawnChecker(options);
}

/** Checks a complete model file in a fresh child process (see startOnnxCheck). */
export function checkOnnxFileInProcess(file: string | CheckInput, options: ProcessCheckOptions = {}): Promise<OnnxSummary> {
  return startOnnxCheck(options).check(file);
}

/** Hands out checker processes. */
export interface OnnxCheckers {
  start(): PendingOnnxCheck;
  /** Ends the spare process. */
  close(): void;
}

/**
 * Checkers with one started ahead, so an upload neither waits for a start nor competes
 * with it for the CPU (loading node and onnxruntime takes about 0.4 s of CPU, which
 * slowed a 100 MB upload by as much). The next spare starts once the check it replaces
 * is over; uploads at the same time start their own.
 */
export function onnxCheckers(options: ProcessCheckOptions = {}): OnnxCheckers {
  let spare: Checker | undefined;
  let closed = false;
  const prepare = () => {
    if (!closed && !spare) spare = spawnChecker(options);
  };
  prepare();
  return {
    start() {
      const checker = spare?.alive() ? spare : spawnChecker(options);
      spare = undefined;
      void checker.ended.then(prepare);
      return checker;
    },
    close() {
      closed = true;
      spare?.cancel();
      spare = undefined;
    },
  };
}

interface Checker extends PendingOnnxCheck {
  alive(): boolean;
  /** Resolves when the process has exited. */
  ended: Promise<void>;
}

function spawnChecker(options: ProcessCheckOptions): Checker {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const child = spawn(process.execPath, [entryPath()], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let reported: (report: Report) => void = () => {};
  const report = new Promise<Report>((resolve) => (reported = resolve));
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    const end = out.indexOf("\n");
    if (end < 0) return;
    try {
      reported(JSON.parse(out.slice(0, end)) as Report);
    } catch {
      // not a report: judged by how the process ends
    }
  });
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdin.on("error", () => {}); // a child that died early is reported by "close"
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal }));
  });
  closed.catch(() => {});
  return {
    alive: () => child.exitCode === null && child.signalCode === null && child.stdin.writable,
    ended: closed.then(
      () => undefined,
      () => undefined,
    ),
    async check(file) {
      child.stdin.end(`${JSON.stringify(typeof file === "string" ? { path: file } : file)}\n`);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      // The report line is the answer; the process exits on its own meanwhile (20–30 ms).
      const ended = await Promise.race([report, closed]).finally(() => clearTimeout(timer));
      if ("ok" in ended) {
        if (ended.ok) return ended.summary!;
        if (ended.stage === "parse") throw new OnnxFormatError(ended.message ?? "not an ONNX model");
        throw new OnnxFormatError(`onnxruntime cannot load the model: ${trimMessage(ended.message ?? "")}`);
      }
      const { code, signal } = ended;
      if (signal === "SIGKILL") throw new OnnxFormatError(`onnxruntime did not load the model within ${timeoutMs / 1000} s`);
      throw new OnnxFormatError(`onnxruntime crashed loading the model (exit ${code ?? signal}): ${trimMessage(err)}`);
    },
    cancel() {
      child.stdin.end();
      child.kill();
    },
  };
}

function entryPath(): string {
  // Under vitest this module runs from src/*.ts; the child runs tsc's build in dist/.
  const url = import.meta.url.endsWith(".ts") ? new URL("../dist/check-process-main.js", import.meta.url) : new URL("./check-process-main.js", import.meta.url);
  return url.pathname;
}

import { spawn } from "node:child_process";
import { OnnxFormatError, trimMessage } from "./errors.js";

export interface ProcessCheckOptions {
  /** Kills the check after this long (default 120 s). */
  timeoutMs?: number;
}

/**
 * Loads a model file in onnxruntime in a child process. Uploaded models are untrusted
 * input to native code: a crash or an abort there ends the child, not the server, and
 * the memory a big model takes while loading is returned when the child exits.
 * Resolves if the model loads; rejects with OnnxFormatError saying why it does not.
 */
export function checkOnnxFileInProcess(path: string, options: ProcessCheckOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entryPath(), path], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let report: { ok: boolean; message?: string } | undefined;
      try {
        report = JSON.parse(out);
      } catch {
        report = undefined;
      }
      if (report?.ok) return resolve();
      if (report) return reject(new OnnxFormatError(`onnxruntime cannot load the model: ${trimMessage(report.message ?? "")}`));
      if (signal === "SIGKILL") return reject(new OnnxFormatError(`onnxruntime did not load the model within ${timeoutMs / 1000} s`));
      reject(new OnnxFormatError(`onnxruntime crashed loading the model (exit ${code ?? signal}): ${trimMessage(err)}`));
    });
  });
}

function entryPath(): string {
  // Under vitest this module runs from src/*.ts; the child runs tsc's build in dist/.
  const url = import.meta.url.endsWith(".ts") ? new URL("../dist/check-process-main.js", import.meta.url) : new URL("./check-process-main.js", import.meta.url);
  return url.pathname;
}

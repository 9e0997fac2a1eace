import { execFile } from "node:child_process";
import { once } from "node:events";
import http2 from "node:http2";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The kiln CLI's entry, for tests that spawn it themselves. */
export const KILN_BIN = join(import.meta.dirname, "../../../libs/cli/bin/kiln.js");

/** A name no other test uses. */
export const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/**
 * The CLI against the server at `url()` (read per call: servers start in beforeAll), run in
 * `cwd()` when given, with `env()` when given. `kiln(...)` resolves with its stdout; `kilnFails(...)` with the failed
 * process's exit code and output.
 */
export function cli(url: () => string, cwd?: () => string, env?: () => NodeJS.ProcessEnv) {
  const args = (rest: string[]) => [KILN_BIN, "--url", url(), ...rest];
  const options = () => ({ cwd: cwd?.(), ...(env && { env: env() }) });
  return {
    kiln: async (...rest: string[]) => (await run(process.execPath, args(rest), options())).stdout,
    /** stdout and what the command said on stderr beside it. */
    kilnSays: async (...rest: string[]) => {
      const { stdout, stderr } = await run(process.execPath, args(rest), options());
      return { stdout, stderr };
    },
    kilnFails: async (...rest: string[]) => {
      try {
        await run(process.execPath, args(rest), options());
      } catch (e) {
        return e as { code: number; stdout: string; stderr: string };
      }
      throw new Error("expected the command to fail");
    },
  };
}

/**
 * A PUT whose body goes in two parts 300 ms apart: its status, and whether the server
 * answered before the second part (a proxy in between stalls on such early answers).
 */
export async function putInTwoParts(url: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; answeredEarly: boolean }> {
  const session = http2.connect(url);
  try {
    const req = session.request({ ":method": "PUT", ":path": path, "content-length": String(body.length), ...headers });
    let answered = false;
    req.on("response", () => (answered = true));
    req.write(body.subarray(0, 10));
    await new Promise((r) => setTimeout(r, 300));
    const answeredEarly = answered;
    req.end(body.subarray(10));
    const [response] = (await once(req, "response").catch(() => [{}])) as [http2.IncomingHttpHeaders];
    req.resume();
    await once(req, "close");
    return { status: Number(response[":status"] ?? 0), answeredEarly };
  } finally {
    session.close();
  }
}

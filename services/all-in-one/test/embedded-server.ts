import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { RunningProcess } from "@kiln/core";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";

/**
 * An embedded server for the tests of one file: started in beforeAll on port 0 with its
 * data in a temporary folder (`dir/data`), an SDK client connected to it, and all of it
 * stopped and removed in afterAll. Read the fields inside tests (they are set in beforeAll).
 */
export function embeddedServer(name: string, env: NodeJS.ProcessEnv = {}): { readonly dir: string; readonly running: RunningProcess; readonly url: string; readonly kiln: Kiln } {
  let dir: string | undefined;
  let running: RunningProcess | undefined;
  let kiln: Kiln | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `kiln-${name}-`));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent", ...env }, false);
    kiln = await Kiln.connect(running.server.url);
  });
  afterAll(async () => {
    kiln?.close();
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir!;
    },
    get running() {
      return running!;
    },
    get url() {
      return running!.server.url;
    },
    get kiln() {
      return kiln!;
    },
  };
}

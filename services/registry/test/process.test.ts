import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { linearRegressorOnnx } from "@kiln/onnx";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { collect, uploadStream } from "./harness.js";

const main = join(import.meta.dirname, "../dist/main.js");

async function startRegistry(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [main], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line) as { msg: string; url?: string };
    if (entry.msg === "listening") return { child, url: entry.url! };
  }
  throw new Error("the registry exited before listening");
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  return code as number | null;
}

describe("the registry as its own process, over HTTP/2", () => {
  let dir: string;
  let registry: { child: ChildProcess; url: string };
  const bytes = linearRegressorOnnx([1, 2, 3], 4);
  const sha256 = createHash("sha256").update(bytes).digest("hex");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-registry-proc-"));
    registry = await startRegistry({ KILN_PORT: "0", KILN_DATA_DIR: dir });
  });
  afterAll(async () => {
    await stop(registry.child);
    await rm(dir, { recursive: true, force: true });
  });

  it("uploads over a gRPC client stream, checks the ONNX file, serves chunks by reference, stops on SIGTERM", async () => {
    const client = createClient(RegistryService, createGrpcTransport({ baseUrl: registry.url }));
    const { version } = await client.uploadModelVersion(uploadStream({ parent: "projects/default/models/proc", tags: ["prod"] }, bytes));
    expect(version).toMatchObject({ version: 1n, runnable: true, sha256, tags: ["prod"] });
    const parts = await collect(client.downloadModelVersion({ name: "projects/default/models/proc/versions/prod", byReference: true }));
    const ref = parts.find((p) => p.message.case === "reference")!.message.value as { path: string };
    const body = Buffer.from(await (await fetch(new URL(ref.path, registry.url))).arrayBuffer());
    expect(createHash("sha256").update(body).digest("hex")).toBe(sha256);
    expect(await stop(registry.child)).toBe(0);
  });

  it("keeps models across a restart", async () => {
    const again = await startRegistry({ KILN_PORT: "0", KILN_DATA_DIR: dir });
    try {
      const client = createClient(RegistryService, createGrpcTransport({ baseUrl: again.url }));
      expect((await client.getModelVersion({ name: "projects/default/models/proc/versions/latest" })).version!.sha256).toBe(sha256);
    } finally {
      await stop(again.child);
    }
  });
});

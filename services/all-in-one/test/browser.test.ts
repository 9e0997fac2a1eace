import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import type { RunningProcess } from "@kiln/core";
import { runEmbedded } from "../src/index.js";
import { launchChromium, noBrowser, RUNTIME_LOGGED, RUNTIME_RESULT, runInPage, servePage } from "./browser-page.js";

describe.skipIf(noBrowser)("the SDK in a real browser (Connect-web, CORS)", () => {
  let dir: string;
  let running: RunningProcess;
  let page: Awaited<ReturnType<typeof servePage>>;
  let browser: Browser;
  let pageOrigin: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-browser-"));
    page = await servePage();
    pageOrigin = page.origin;
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent", KILN_CORS_ORIGINS: pageOrigin }, false);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    page?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("puts, appends and reads back a filtered table from a page on another origin", async () => {
    const result = await runInPage(browser, pageOrigin, "runKiln", running.server.url);
    expect(result).toEqual({
      v1: 1,
      rows: [{ b: "y" }, { b: "z" }, { b: "w" }],
      versions: [2, 1],
      missing: "NotFoundError:DATASET_NOT_FOUND",
    });
  });

  it("runs the runtime and tracking from a page: a fit on local data, a predict streamed back, the job watched, the model deployed and asked, a run logged", async () => {
    const result = await runInPage(browser, pageOrigin, "runRuntime", running.server.url);
    expect(result).toMatchObject(RUNTIME_RESULT);
    expect(result.logged).toEqual(RUNTIME_LOGGED); // as the page computed them
    expect(result.r2).toBeCloseTo(1, 6);
    expect(result.artifact).toMatchObject({ kind: "file", name: "confusion.txt", size: 18, mediaType: "text/plain" });
  });

  it("refuses origins that are not allowed", async () => {
    const preflight = await fetch(`${running.server.url}/kiln.store.v1.StoreService/ListDatasets`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "POST" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    const allowed = await fetch(`${running.server.url}/kiln.store.v1.StoreService/ListDatasets`, {
      method: "OPTIONS",
      headers: { origin: pageOrigin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version" },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe(pageOrigin);
    expect(allowed.headers.get("access-control-allow-headers")).toMatch(/Connect-Protocol-Version/i);
  });
});

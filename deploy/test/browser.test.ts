import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launchChromium, noBrowser, RUNTIME_LOGGED, RUNTIME_RESULT, runInPage, servePage } from "../../services/all-in-one/test/browser-page.js";
import { composePlan } from "./compose-plan.js";
import { COMPOSE_SHELL } from "./operator.js";
import { DEPLOY } from "./plan.js";
import { startStack, type Stack } from "./stack.js";

describe.skipIf(noBrowser)("a page on another origin using Kiln through the compose stack's proxy (Chromium, Connect-web over HTTP/1.1, CORS)", () => {
  let page: Awaited<ReturnType<typeof servePage>>;
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    page = await servePage();
    // As `KILN_CORS_ORIGINS=<the page's origin> docker compose up` would.
    stack = await startStack(composePlan(join(DEPLOY, "compose.yaml"), { ...COMPOSE_SHELL, KILN_CORS_ORIGINS: page.origin }));
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    page?.close();
  });

  it("writes and reads datasets, fits, predicts, deploys and tracks from the page, each call to the service its path names", async () => {
    expect(await runInPage(browser, page.origin, "runKiln", stack.url, stack.token)).toMatchObject({ v1: 1, rows: [{ b: "y" }, { b: "z" }, { b: "w" }], missing: "NotFoundError:DATASET_NOT_FOUND" });
    const result = await runInPage(browser, page.origin, "runRuntime", stack.url, stack.token);
    expect(result).toMatchObject(RUNTIME_RESULT);
    expect(result.logged).toEqual(RUNTIME_LOGGED);
    expect(result.artifact).toMatchObject({ kind: "file", name: "confusion.txt", size: 18 });
  }, 60_000);

  it("answers a preflight from the page's origin, and none from another", async () => {
    const preflight = (origin: string) =>
      fetch(`${stack.url}/kiln.runtime.v1.RuntimeService/SubmitJob`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" } });
    expect((await preflight(page.origin)).headers.get("access-control-allow-origin")).toBe(page.origin);
    expect((await preflight("http://evil.example")).headers.get("access-control-allow-origin")).toBeNull();
  });
});

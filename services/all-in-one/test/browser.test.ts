import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import type { RunningProcess } from "@kiln/core";
import { runEmbedded } from "../src/index.js";

const CHROMIUM = "/usr/bin/chromium";
const repoRoot = join(import.meta.dirname, "../../..");

/** What the page runs: the SDK over Connect-web, which cannot client-stream, so writes go by resumable upload. */
const pageScript = `
import { Kiln } from "@kiln/sdk";
import { createConnectTransport } from "@connectrpc/connect-web";
window.runKiln = async (baseUrl) => {
  const kiln = await Kiln.connect({ transport: createConnectTransport({ baseUrl }) });
  const v1 = await kiln.datasets.put("from_browser", [{ a: 1, b: "x" }, { a: 2, b: "y" }, { a: 3, b: "z" }]);
  await kiln.datasets.put("from_browser", { a: [4], b: ["w"] });
  const table = await kiln.datasets.get("from_browser", { filter: "a >= 2", columns: ["b"] });
  const versions = await kiln.datasets.versions("from_browser");
  let missing = "";
  try { await kiln.datasets.get("nope"); } catch (e) { missing = e.name + ":" + e.reason; }
  return { v1: v1.version, rows: table.toArray().map((r) => r.toJSON()), versions: versions.map((v) => v.version), missing };
};
// OmegaML's runtime from a page: local data carried in the submit (the scheduler stores it as
// temporary datasets), a remote fit, a predict whose rows stream back while the job's progress
// is watched. With the url too, files go to the chunk routes by PUT (the model file here, an
// artifact below).
window.runRuntime = async (baseUrl) => {
  const kiln = await Kiln.connect({ transport: createConnectTransport({ baseUrl }), url: baseUrl });
  const rows = Array.from({ length: 40 }, (_, i) => ({ a: i, b: i % 3 }));
  await kiln.models.create("in_browser", { estimator: "linear_regression" });
  const fit = await (await kiln.runtime.model("in_browser").fit(rows, rows.map((r) => ({ y: 2 * r.a - r.b + 1 })))).get();
  await kiln.datasets.put("from_browser_x", [{ a: 1, b: 0 }, { a: 5, b: 2 }]);
  // A filtered read of no rows, by a client that fetches chunks by reference: its columns, no rows.
  const none = await kiln.datasets.get("from_browser_x", { filter: "a > 99" });
  const job = await kiln.runtime.model("in_browser").predict("from_browser_x");
  const states = [];
  const watching = (async () => { for await (const info of job.watch()) states.push(info.state); })();
  const predictions = [];
  for await (const table of job.results()) predictions.push(...table.getChild("prediction").toArray());
  await watching;
  // Online: the fitted version deployed, a prediction answered from the page.
  await kiln.deployments.create("in_browser", { model: "in_browser" });
  const online = (await kiln.deployments.predict("in_browser", [{ a: 1, b: 0 }, { a: 5, b: 2 }])).getChild("prediction").toArray();
  // Tracking from the page: events go in one AppendEvents message per send (requests cannot stream here).
  const exp = kiln.experiment("from_browser");
  await exp.run(async (run) => {
    run.logParam("C", 0.5);
    for (let step = 1; step <= 3; step++) run.logMetric("auc", 0.8 + step / 100, { step });
    await run.logArtifact(new TextEncoder().encode("a confusion matrix"), "confusion.txt", { mediaType: "text/plain" });
  });
  const events = await exp.data();
  const logged = events.filter((r) => r.event === "metric" || r.event === "param").map((r) => [r.event, r.key, r.step, r.value]);
  const artifact = events.find((r) => r.event === "artifact")?.value;
  const noRows = [none.numRows, none.schema.fields.map((f) => f.name)];
  const round = (values) => Array.from(values, (v) => Math.round(v * 1000) / 1000);
  return { version: fit.modelVersion, r2: fit.metrics.training_score, predictions: round(predictions), online: round(online), last: states.at(-1), logged, artifact, noRows };
};
`;

// In CI the browser is installed by .ci/run and must be there; elsewhere the test needs it installed.
describe.skipIf(!process.env.CI && !existsSync(CHROMIUM))("the SDK in a real browser (Connect-web, CORS)", () => {
  let dir: string;
  let running: RunningProcess;
  let page: http.Server;
  let browser: Browser;
  let pageOrigin: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-browser-"));
    const bundle = await build({
      stdin: { contents: pageScript, resolveDir: repoRoot, loader: "js" },
      bundle: true,
      format: "esm",
      platform: "browser",
      external: ["@connectrpc/connect-node"],
      write: false,
      logLevel: "silent",
    });
    const js = bundle.outputFiles[0].text;
    page = http.createServer((req, res) => {
      if (req.url === "/app.js") return void res.writeHead(200, { "content-type": "text/javascript" }).end(js);
      res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><script type="module" src="/app.js"></script>');
    });
    page.listen(0, "127.0.0.1");
    await once(page, "listening");
    pageOrigin = `http://127.0.0.1:${(page.address() as { port: number }).port}`;
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent", KILN_CORS_ORIGINS: pageOrigin }, false);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu"] });
  });
  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    page?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("puts, appends and reads back a filtered table from a page on another origin", async () => {
    const tab = await browser.newPage();
    await tab.goto(pageOrigin);
    // These functions run in the page, where globalThis is its window (this program has no DOM types).
    await tab.waitForFunction(() => "runKiln" in globalThis);
    const result = await tab.evaluate((url) => (globalThis as unknown as { runKiln(u: string): Promise<unknown> }).runKiln(url), running.server.url);
    expect(result).toEqual({
      v1: 1,
      rows: [{ b: "y" }, { b: "z" }, { b: "w" }],
      versions: [2, 1],
      missing: "NotFoundError:DATASET_NOT_FOUND",
    });
  });

  it("runs the runtime and tracking from a page: a fit on local data, a predict streamed back, the job watched, the model deployed and asked, a run logged", async () => {
    const tab = await browser.newPage();
    await tab.goto(pageOrigin);
    await tab.waitForFunction(() => "runRuntime" in globalThis);
    const result = (await tab.evaluate((url) => (globalThis as unknown as { runRuntime(u: string): Promise<unknown> }).runRuntime(url), running.server.url)) as Record<string, unknown>;
    expect(result).toMatchObject({ version: "projects/default/models/in_browser/versions/2", predictions: [3, 9], online: [3, 9], last: "succeeded", noRows: [0, ["a", "b"]] });
    expect(result.logged).toEqual([
      ["param", "C", 0, 0.5],
      ...[1, 2, 3].map((step) => ["metric", "auc", step, 0.8 + step / 100]), // as the page computed them
    ]);
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

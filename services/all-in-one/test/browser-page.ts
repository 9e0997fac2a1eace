import { existsSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { once } from "node:events";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
const repoRoot = join(import.meta.dirname, "../../..");

/** What the page runs: the SDK over Connect-web, which cannot client-stream, so writes go by resumable upload. */
const pageScript = `
import { Kiln } from "@kiln/sdk";
import { createConnectTransport } from "@connectrpc/connect-web";
window.runKiln = async (baseUrl, token) => {
  const kiln = await Kiln.connect({ transport: createConnectTransport({ baseUrl }), token });
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
window.runRuntime = async (baseUrl, token) => {
  const kiln = await Kiln.connect({ transport: createConnectTransport({ baseUrl }), url: baseUrl, token });
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

/** In CI the browser is installed by .ci/run and must be there; elsewhere a test needs it installed. */
export const noBrowser = !process.env.CI && !existsSync(CHROMIUM);

/** A page on an origin of its own (a port of 127.0.0.1) whose script is the SDK bundle above, with runKiln and runRuntime. */
export async function servePage(): Promise<{ origin: string; close(): void }> {
  const bundle = await build({
    stdin: { contents: pageScript, resolveDir: repoRoot, loader: "js" },
    bundle: true,
    format: "esm",
    platform: "browser",
    external: ["@connectrpc/connect-node"],
    write: false,
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0]!.text;
  const page = http.createServer((req, res) => {
    if (req.url === "/app.js") return void res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><script type="module" src="/app.js"></script>');
  });
  page.listen(0, "127.0.0.1");
  await once(page, "listening");
  return { origin: `http://127.0.0.1:${(page.address() as { port: number }).port}`, close: () => void page.close() };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu"] });
}

/** Opens the page and runs one of its functions (runKiln, runRuntime) against a Kiln URL, with a token for a server that checks them. */
export async function runInPage(browser: Browser, origin: string, fn: "runKiln" | "runRuntime", kilnUrl: string, token?: string): Promise<Record<string, unknown>> {
  const tab: Page = await browser.newPage();
  await tab.goto(origin);
  // These functions run in the page, where globalThis is its window (this program has no DOM types).
  await tab.waitForFunction((name) => name in globalThis, fn);
  return (await tab.evaluate(([name, url, t]) => (globalThis as unknown as Record<string, (u: string, t?: string) => Promise<unknown>>)[name]!(url, t), [fn, kilnUrl, token] as const)) as Record<string, unknown>;
}

/** What runRuntime answers, wherever it ran: a fit, a streamed predict, a deployment, a tracked run. */
export const RUNTIME_RESULT = { version: "projects/default/models/in_browser/versions/2", predictions: [3, 9], online: [3, 9], last: "succeeded", noRows: [0, ["a", "b"]] };
export const RUNTIME_LOGGED = [["param", "C", 0, 0.5], ...[1, 2, 3].map((step) => ["metric", "auc", step, 0.8 + step / 100])];

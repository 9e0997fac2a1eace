import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { RunningProcess } from "@kiln/core";
import { mintToken } from "@kiln/core";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";
import { launchChromium, noBrowser } from "./browser-page.js";

const SECRET = "console-test-secret-0123456789abcdef";

describe.skipIf(noBrowser)("the web console at /ui/ (Chromium)", () => {
  let dir: string;
  let running: RunningProcess;
  let browser: Browser;
  let kiln: Kiln;
  let fitJob: string;
  let driftJob: string;
  let explainJob: string;
  let predictJob: string;
  const token = mintToken(SECRET, { subject: "ana", role: "read", projects: ["*"], expiresInSeconds: 3600 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-console-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent", KILN_AUTH_SECRETS: SECRET }, false);
    const admin = mintToken(SECRET, { subject: "bo", role: "admin", projects: ["*"], expiresInSeconds: 3600 });
    kiln = await Kiln.connect({ url: running.server.url, token: admin });
    const rows = Array.from({ length: 30 }, (_, i) => ({ a: i, b: i % 4, y: 2 * i - (i % 4) + 1 }));
    await kiln.datasets.put("sales", rows, { comment: "the first load" });
    await kiln.models.create("churn", { estimator: "linear_regression" });
    const fit = await kiln.runtime.model("churn").fit({ dataset: "sales", columns: ["a", "b"] }, { dataset: "sales", columns: ["y"] });
    await fit.get();
    fitJob = fit.id;
    await kiln.models.tag("churn:2", "prod");
    const predicted = await kiln.runtime.model("churn").predict({ dataset: "sales", columns: ["a", "b"] });
    await predicted.get();
    predictJob = predicted.id;
    await kiln.deployments.create("churn-online", { model: "churn:prod", explainer: { background: "sales", backgroundRows: 20 }, autoscaling: { maxReplicas: 2, targetRequestsPerSecond: 1000 } });
    await kiln.deployments.predict("churn-online", [{ a: 3, b: 1 }]);
    const drift = await kiln.runtime.model("churn").drift(rows.map(({ a, b }) => ({ a: a + 100, b })));
    await drift.get();
    driftJob = drift.id;
    const explained = await kiln.runtime.model("churn").explain({ dataset: "sales", columns: ["a", "b"], filter: "a < 5" });
    await explained.get();
    explainJob = explained.id;
    await kiln.inferenceGraphs.create("churn-split", {
      description: "a <b>split</b>",
      nodes: { root: { routerType: "switch", steps: [{ name: "small", deployment: "churn-online", condition: "a < 10" }, { name: "rest", node: "both" }] }, both: { routerType: "ensemble", combine: "mean", steps: [{ name: "one", deployment: "churn-online" }, { name: "two", deployment: "churn-online" }] } },
    });
    await kiln.webhooks.create("alerts", { url: "https://hooks.example.invalid/kiln", events: ["job.failed", "tag.moved"], secret: "x" });
    await kiln.schedules.create("nightly", { cron: "0 2 * * *", timeZone: "Europe/Berlin", job: { kind: "predict", model: "churn", x: { dataset: "sales", columns: ["a", "b"] } } });
    // Its counts come with the executor's heartbeats: the page shows them once the scheduler has them.
    for (let i = 0; (await kiln.deployments.get("churn-online")).stats.requests < 1; i++) {
      if (i > 200) throw new Error("the deployment's answer was never counted");
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const C of [0.5, 2]) {
      await kiln.experiment("tuning").run(async (run) => {
        run.logParam("C", C);
        for (let step = 1; step <= 4; step++) run.logMetric("auc", 0.7 + step / (C === 0.5 ? 20 : 40), { step });
        if (C === 2) {
          await run.logArtifact(new TextEncoder().encode("fold,score\n1,0.9\n"), "scores.csv", { mediaType: "text/csv" });
          await run.logArtifact({ layers: [4, 2] }, "architecture");
        }
      });
    }
    // A trace as MLflow 3's tracing logs one to the experiment: its info, then its spans' file.
    const mlflow = (method: string, path: string, body: string) => fetch(`${running.server.url}/api/${path}`, { method, headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body });
    const info = { trace_id: "tr-console", trace_location: { type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: "tuning" } }, request_time: "2026-12-06T08:00:00Z", execution_duration: "0.120s", state: "OK", tags: { "mlflow.traceName": "answer" }, request_preview: '{"q": "<b>six</b> times seven"}' };
    expect((await mlflow("POST", "3.0/mlflow/traces", JSON.stringify({ trace: { trace_info: info } }))).status).toBe(200);
    const span = (id: string, parent: string | null, name: string, type: string, start: number, end: number) => ({ span_id: id, parent_span_id: parent, name, start_time_unix_nano: start, end_time_unix_nano: end, status: { code: "STATUS_CODE_OK" }, attributes: { "mlflow.spanType": JSON.stringify(type), "mlflow.spanInputs": '{"q": "six times seven"}' } });
    const at = (ms: number) => 1_796_545_683_000_000_000 + ms * 1e6; // unix nanoseconds, as the client writes them
    const spans = { spans: [span("s1", null, "answer", "CHAIN", at(0), at(120)), span("s2", "s1", "retrieve", "RETRIEVER", at(10), at(50))] };
    expect((await mlflow("PUT", "2.0/mlflow-artifacts/artifacts/tuning/traces/tr-console/artifacts/traces.json", JSON.stringify(spans))).status).toBe(200);
    // A training loop's loss, more points than a chart draws, with a spike.
    await kiln.experiment("training").run((run) => {
      for (let step = 0; step < 5000; step++) run.logMetric("loss", step === 2500 ? 9 : 1 / (1 + step), { step });
    });
    // A sweep of more runs than the experiment page's table shows at first.
    expect((await mlflow("POST", "2.0/mlflow/experiments/create", JSON.stringify({ name: "sweep" }))).status).toBe(200);
    for (let i = 0; i < 103; i++) expect((await mlflow("POST", "2.0/mlflow/runs/create", JSON.stringify({ experiment_id: "sweep", start_time: Date.now() }))).status).toBe(200);
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    kiln?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A tab whose checks (strings run in the page) the console's CSP lets through; without it, no markup runs either. */
  async function openPage(): Promise<Page> {
    return (await browser.newContext({ bypassCSP: true })).newPage();
  }

  /** The page's main area once it shows the view under `heading` (an earlier view may still be there a moment) and that says `expected`. */
  async function viewText(page: Page, hash: string, heading: string | null, expected = ""): Promise<string> {
    await page.goto(`${running.server.url}/ui/${hash}`);
    // Run in the page (this program has no DOM types).
    const headingShown = heading === null ? "true" : `document.querySelector("#view h1")?.textContent === ${JSON.stringify(heading)}`;
    await page.waitForFunction(`${headingShown} && document.getElementById("view")?.textContent?.includes(${JSON.stringify(expected)})`, undefined, { timeout: 10_000 });
    return (await page.textContent("#view")) ?? "";
  }

  it("serves its files open to all, with a policy that lets scripts and calls come only from the server", async () => {
    const page = await fetch(`${running.server.url}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(await page.text()).toContain('<script type="module" src="app.js">');
    expect((await fetch(`${running.server.url}/ui/app.js`)).headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await fetch(`${running.server.url}/ui/../package.json`)).status).toBe(404);
    expect((await fetch(`${running.server.url}/ui/secrets.txt`)).status).toBe(404);
  });

  it("asks for a token where the server checks them, then shows datasets, models, jobs, deployments and experiments", async () => {
    const page = await openPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    expect(await viewText(page, "#/datasets", null, "token")).toMatch(/Give a token above/);

    await page.fill("#token", token);
    await page.click("#session button");
    await page.waitForFunction(`document.getElementById("who")?.textContent === "ana (read)"`);
    await page.waitForFunction(`document.getElementById("view")?.textContent?.includes("sales")`);
    expect(await page.textContent("#view")).toMatch(/sales\s*table\s*1\s*30/);

    // The columns' profile fills in when the store has it; the rows come with the page.
    const dataset = await viewText(page, "#/datasets/sales", "Dataset sales", "most frequent");
    expect(dataset).toContain("the first load");
    expect(dataset).toContain("a Float64");
    const profile = page.locator("#view table").nth(1).locator("tbody tr");
    expect(await profile.nth(0).locator("td").allTextContents()).toEqual(["a", "Float64", "30", "0", "30", "0", "14.5", "14.5", "29", "8.65544", ""]);
    expect(await profile.nth(1).locator("td").allTextContents()).toEqual(["b", "Float64", "30", "0", "4", "0", "1", "1.43333", "3", "1.11604", ""]);
    expect(await page.locator("#view table").nth(2).locator("tbody tr").count()).toBe(20);

    expect(await viewText(page, "#/models", "Models", "churn")).toMatch(/churn\s*2\s*prod→2/);
    const versions = await viewText(page, "#/models/churn", "Model churn", "training_score");
    expect(versions).toContain(fitJob);
    expect(versions).toContain("sales@1");
    // Version 2 (prod) is served: "served by" names the deployment on its row.
    expect(await page.locator("#view table").first().locator("tbody tr").first().locator("td").allTextContents()).toContain("churn-online");
    expect(versions).toContain("Signature of version 2");
    expect(versions).toMatch(/featuresa, b\s*targety/);

    const jobs = await viewText(page, "#/jobs", "Jobs", fitJob);
    expect(jobs).toMatch(/fit\s*churn:1\s*succeeded/);
    // The embedded executor, alive, serving the deployment.
    expect(jobs).toMatch(/Executors.*churn-online \(ready\)\d{4}-\d{2}-\d{2} /s);
    expect(await viewText(page, "#/jobs?state=failed", "Jobs", "no failed jobs")).not.toContain(fitJob);
    const job = await viewText(page, `#/jobs/${fitJob}`, `Job ${fitJob}`, "Attempts");
    expect(job).toContain("churn:2");
    expect(job).toContain("training_score=1");
    // A job still to end is read again every 2 s; one that is over stays as it is.
    const waiting = await kiln.runtime.require({ labels: ["nowhere"] }).noop();
    expect(await viewText(page, `#/jobs/${waiting.id}`, `Job ${waiting.id}`, "queued")).toMatch(/statequeued/);
    await waiting.cancel();
    await page.waitForFunction(`document.getElementById("view")?.textContent?.includes("statecancelled")`, undefined, { timeout: 10_000 });
    expect(await page.locator("#view h1").getAttribute("data-live")).toBeNull();
    const drifted = await viewText(page, `#/jobs/${driftJob}`, `Job ${driftJob}`, "Drift");
    expect(drifted).toMatch(/against the training data sales@1 \(30 rows\): 1 drifted/);
    expect(drifted).toMatch(/a\s*numeric\s*[\d.]+\s*ks\s*[\d.e-]+\s*[\d.]+\s*yes\s*b\s*numeric\s*0\s*ks\s*1\s*0/);
    const explanation = await viewText(page, `#/jobs/${explainJob}`, `Job ${explainJob}`, "Explanation");
    expect(explanation).toMatch(/Shapley values against 30 background rows of sales@1 \(exact: every coalition of features\)/);
    expect(explanation).toMatch(/prediction: base value [\d.]+, 5 rows/);
    expect(explanation).toMatch(/a\s*[\d.]+\s*-?[\d.]+\s*b\s*[\d.]+/); // a, whose weight is 2, moves the outputs most
    expect(await page.locator("#view span.bar").count()).toBe(2);
    expect(explanation).toMatch(/shap_a/); // the rows, below
    const predictions = await viewText(page, `#/jobs/${predictJob}`, `Job ${predictJob}`, "First 20 result rows");
    expect(predictions).toMatch(/prediction\s*1\s*2/); // y = 2a - b + 1: rows a=0,b=0 → 1; a=1,b=1 → 2

    const exp = await viewText(page, "#/experiments/tuning", "Experiment tuning", "auc by step, the newest 2 runs");
    expect(exp).toMatch(/run\s*status\s*C\s*auc\s*2\s*finished\s*2\s*0\.8\s*1\s*finished\s*0\.5\s*0\.9/);
    // A line per run, four steps each, and a legend naming them.
    const paths = page.locator("svg.chart path");
    expect(await paths.count()).toBe(2);
    for (let i = 0; i < 2; i++) expect(await paths.nth(i).getAttribute("d")).toMatch(/^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){3}$/);
    expect(await page.locator("svg.chart text").allTextContents()).toEqual(expect.arrayContaining(["run 1", "run 2"]));
    expect(exp).toMatch(/Traces\s*trace\s*time\s*state\s*ms\s*name\s*request\s*response\s*tr-console\s*2026-12-06 08:00:00\s*OK\s*120\s*answer\s*\{"q": "<b>six<\/b> times seven"\}/);
    // A metric's heading orders the runs by it, best first, then the other way; the chart draws the first of the table.
    await page.click("#view th a >> text=auc");
    await page.waitForFunction(`document.getElementById("view")?.textContent?.includes("auc ↓")`);
    expect(page.url()).toContain("#/experiments/tuning?order=metrics.%60auc%60+DESC");
    expect(await page.textContent("#view")).toMatch(/auc ↓\s*1\s*finished\s*0\.5\s*0\.9\s*2\s*finished\s*2\s*0\.8.*auc by step, the first 2 runs in the table that logged it/);
    await page.click("#view th a >> text=auc ↓");
    await page.waitForFunction(`document.getElementById("view")?.textContent?.includes("auc ↑")`);
    expect(await page.textContent("#view")).toMatch(/auc ↑\s*2\s*finished\s*2\s*0\.8\s*1\s*finished/);
    // MLflow's filter from the form, kept in the address with the order; a bad one is said, with the form kept.
    await page.fill("#view form.search input", "params.C = '2'");
    await page.click("#view form.search button");
    await page.waitForFunction(`location.hash.includes("filter=")`);
    expect(await viewText(page, await page.evaluate("location.hash"), "Experiment tuning", "auc by step, run 2")).toMatch(/auc ↑\s*2\s*finished\s*2\s*0\.8\s*auc by step/);
    expect(await page.inputValue("#view form.search input")).toBe("params.C = '2'");
    expect(await viewText(page, "#/experiments/tuning?filter=params.C%20%3E", "Experiment tuning", "Invalid filter")).toMatch(/Invalid filter 'params\.C >': expected a value after params\.C >/);
    expect(await viewText(page, "#/experiments/tuning?filter=params.C%20%3D%20'9'", "Experiment tuning", "no runs match")).toBeTruthy();
    // A run's page, linked from its number: its fields, params, metrics with one's history drawn, artifacts (a file downloaded from here), other events.
    await viewText(page, "#/experiments/tuning", "Experiment tuning", "auc by step");
    await page.click("#view td a >> text=2");
    const runPage = await viewText(page, "#/experiments/tuning/runs/2", "Run 2 of tuning", "Artifacts");
    expect(runPage).toMatch(/statusfinishedstarted\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect(runPage).toMatch(/Params\s*param\s*value\s*C\s*2\s*Metrics/);
    expect(runPage).toMatch(/Metrics\s*metric\s*last\s*min\s*max\s*count\s*auc\s*0\.8\s*0\.725\s*0\.8\s*4\s*auc by step/);
    expect(await page.locator("svg.chart path").count()).toBe(1);
    expect(runPage).toMatch(/scores\.csv\d{4}-\d\d-\d\d \d\d:\d\d:\d\dfile, 17 B, text\/csv download/);
    expect(runPage).toMatch(/architecture\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\{"layers":\[4,2\]\}/);
    expect(runPage).toMatch(/Events\s*event\s*key\s*time\s*value\s*start.*system.*stop/);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#view button >> text=download")]);
    expect(download.suggestedFilename()).toBe("scores.csv");
    expect(await readFile((await download.path())!, "utf8")).toBe("fold,score\n1,0.9\n");
    expect(await viewText(page, "#/experiments/tuning/runs/9", null, "no run 9")).toMatch(/no run 9: the experiment has runs 1 to 2/);
    // A long history is drawn from a sample the server keeps the shape of: 1,000 points, the spike among them.
    const training = await viewText(page, "#/experiments/training/runs/1?metric=loss", "Run 1 of training", "points drawn");
    expect(training).toMatch(/1,000 of its 5,000 points drawn, chosen to keep the line's shape/);
    const line = (await page.locator("svg.chart path").getAttribute("d"))!;
    expect(line.split(" ")).toHaveLength(1000);
    expect(await page.locator("svg.chart text").allTextContents()).toEqual(expect.arrayContaining(["9", "step 0", "step 4999"]));
    // The newest 100 runs of a sweep of 103, then all of them.
    expect(await viewText(page, "#/experiments/sweep", "Experiment sweep", "The newest 100 runs of 103")).toMatch(/The newest 100 runs of 103: show all\s*run\s*status\s*103\s*running\s*102\s*running/);
    expect(await page.getAttribute("#view a >> text=show all", "href")).toBe("#/experiments/sweep?runs=all");
    expect(await viewText(page, "#/experiments/sweep?runs=all", "Experiment sweep", "2running1running")).toMatch(/^Experiment sweep\s*search\s*run\s*status\s*103\s*running\s*102\s*running.*\D3\s*running\s*2\s*running\s*1\s*running/);
    const trace = await viewText(page, "#/experiments/tuning/traces/tr-console", "Trace tr-console", "retrieve");
    // The spans as a tree: the retriever under the chain, 40 ms of its 120.
    expect(trace).toMatch(/answer\s*CHAIN\s*OK\s*120\s*\{"q":"six times seven"\}\s*retrieve\s*RETRIEVER\s*OK\s*40/);
    expect(await page.locator("#view td span[style]").nth(1).getAttribute("style")).toBe("padding-left: 1.5em");
    // Served, with what it answered: one request of one row.
    expect(await viewText(page, "#/schedules", "Schedules", "nightly")).toMatch(/nightly\s*0 2 \* \* \* Europe\/Berlin\s*predict churn:latest on sales\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s*0/);
    expect(await viewText(page, "#/webhooks", "Webhooks", "alerts")).toMatch(/alerts\s*https:\/\/hooks\.example\.invalid\/kiln\s*job\.failed, tag\.moved\s*yes\s*active\s*0\s*0/);
    expect(await viewText(page, "#/inference-graphs", "Inference graphs", "churn-split")).toMatch(
      /churn-split\s*both: ensemble \(mean\) → one: deployment churn-online; two: deployment churn-online\s*root: switch → small: deployment churn-online where a < 10; rest: node both\s*churn-online\s*a <b>split<\/b>/,
    );
    const deploymentsPage = await viewText(page, "#/deployments", "Deployments", "churn-online");
    expect(deploymentsPage).toMatch(/churn-online\s*churn:2\s*ready\s*1 of 1 \(1–2 by load\)\s*\S+\s*1\s*1\s*0/);
    expect(deploymentsPage).toMatch(/20 rows of sales/);
    // Nothing a dataset says is read as HTML.
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows what data says as text, never as markup", async () => {
    await kiln.datasets.put("tricky", [{ note: '<img src=x onerror="window.hacked=1">' }]);
    const page = await openPage();
    await page.goto(`${running.server.url}/ui/#/datasets/tricky`);
    await page.evaluate(`sessionStorage.setItem("kiln.token", ${JSON.stringify(token)})`);
    await page.reload(); // the tab's session now has the token
    const text = await viewText(page, "#/datasets/tricky", "Dataset tricky", "First 1 rows");
    expect(text).toContain('<img src=x onerror="window.hacked=1">');
    expect(await page.evaluate("window.hacked")).toBeUndefined();
    expect(await page.locator("#view img").count()).toBe(0);
    await page.close();
  });
});

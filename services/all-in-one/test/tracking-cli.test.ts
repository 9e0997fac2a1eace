import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProcess } from "@kiln/core";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";
import { cli, unique } from "./helpers.js";


describe("kiln experiments:*, runs, runs:show and runs:compare against a real server", () => {
  let dir: string;
  let running: RunningProcess;
  let sdk: Kiln;
  const { kiln, kilnFails } = cli(() => running.server.url);
  /** Two finished runs: C=1 with acc 0.5, 0.7, 0.9 at steps 1..3; C=2 with acc 0.6, 0.95 at steps 1..2. */
  let exp: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-tracking-cli-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
    sdk = await Kiln.connect(running.server.url);
    exp = unique("exp");
    await sdk.experiment(exp).run((r) => {
      r.logParam("C", 1);
      r.logParam("solver", "lbfgs");
      [0.5, 0.7, 0.9].forEach((acc, i) => r.logMetric("acc", acc, { step: i + 1 }));
      r.logMetric("loss", 0.3, { step: 3 });
    });
    await sdk.experiment(exp).run((r) => {
      r.logParam("C", 2);
      [0.6, 0.95].forEach((acc, i) => r.logMetric("acc", acc, { step: i + 1 }));
    });
  });
  afterAll(async () => {
    sdk?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("lists experiments with their latest run, as a table and as JSON", async () => {
    const table = await kiln("experiments", "--filter", `name = "${exp}"`);
    expect(table.trim().split("\n")).toHaveLength(2);
    expect(table).toMatch(new RegExp(`^NAME\\s+RUNS\\s+CREATED\\n${exp}\\s+2\\s+\\d{4}-\\d\\d-\\d\\dT`));
    const list = JSON.parse(await kiln("--json", "experiments")) as { name: string; latestRun: number }[];
    expect(list).toContainEqual(expect.objectContaining({ name: `projects/default/experiments/${exp}`, latestRun: 2 }));
  });

  it("shows one key of all runs as a table, the latest run by default, and JSON rows", async () => {
    const table = (await kiln("experiments:show", exp, "--run", "all", "--key", "acc")).trim().split("\n");
    expect(table[0]).toMatch(/^RUN\s+EVENT\s+DT\s+NODE\s+STEP\s+KEY\s+VALUE$/);
    const cells = table.slice(1).map((line) => line.split(/\s+/));
    expect(cells.map((c) => [c[0], c[1], c[4], c[5], c[6]])).toEqual([
      ["1", "metric", "1", "acc", "0.5"],
      ["1", "metric", "2", "acc", "0.7"],
      ["1", "metric", "3", "acc", "0.9"],
      ["2", "metric", "1", "acc", "0.6"],
      ["2", "metric", "2", "acc", "0.95"],
    ]);
    expect(cells[0]![2]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    // Default run is the latest; repeatable --event; --step range; the global --json after the verb.
    const rows = JSON.parse(await kiln("experiments:show", exp, "--event", "param", "--event", "metric", "--step", "0..1", "--json")) as {
      experiment: string;
      run: number;
      event: string;
      key: string;
      step: number;
      value: unknown;
    }[];
    expect(rows.every((r) => r.run === 2 && r.experiment === `projects/default/experiments/${exp}`)).toBe(true);
    expect(rows.map((r) => [r.event, r.key, r.step, r.value])).toEqual([
      ["param", "C", 0, 2],
      ["metric", "acc", 1, 0.6],
    ]);
  });

  it("prints CSV with every column, and writes -o files", async () => {
    const csv = (await kiln("experiments:show", exp, "--run", "1,2", "--event", "metric", "--step", "2..3", "--csv")).trim().split("\n");
    expect(csv[0]).toBe("experiment,run,event,dt,node,step,key,value,value_text,value_type");
    expect(csv).toHaveLength(1 + 4); // run 1: acc@2, acc@3, loss@3; run 2: acc@2
    expect(csv.slice(1).map((l) => l.split(",").filter((_, i) => [1, 5, 6, 7].includes(i)))).toEqual([
      ["1", "2", "acc", "0.7"],
      ["1", "3", "acc", "0.9"],
      ["1", "3", "loss", "0.3"],
      ["2", "2", "acc", "0.95"],
    ]);

    const file = join(dir, "acc.csv");
    expect(await kiln("experiments:show", exp, "--run", "all", "--key", "acc", "-o", file)).toBe(`wrote 5 rows to ${file}\n`);
    const lines = (await readFile(file, "utf8")).trim().split("\n");
    expect(lines[0]).toMatch(/^experiment,run,event,dt,/);
    expect(lines).toHaveLength(6);
  });

  it("compares runs side by side: params and metrics (last, min, max), or one --stat", async () => {
    const table = (await kiln("runs:compare", exp, "1", "2")).trim().split("\n");
    expect(table).toEqual([
      expect.stringMatching(/^RUN\s+1\s+2$/),
      expect.stringMatching(/^status\s+finished\s+finished$/),
      expect.stringMatching(/^params\.C\s+1\s+2$/),
      expect.stringMatching(/^params\.solver\s+lbfgs\s*$/),
      expect.stringMatching(/^metrics\.acc\s+0\.9 \(min 0\.5, max 0\.9\)\s+0\.95 \(min 0\.6, max 0\.95\)$/),
      expect.stringMatching(/^metrics\.loss\s+0\.3$/),
    ]);
    const json = JSON.parse(await kiln("--json", "runs:compare", exp, "2", "1")) as { run: number; params: Record<string, unknown>; metrics: Record<string, { min: number; count: number }> }[];
    expect(json.map((s) => s.run)).toEqual([2, 1]);
    expect(json[1]).toMatchObject({ params: { C: 1, solver: "lbfgs" }, metrics: { acc: { min: 0.5, count: 3 } } });
    // Only the runs asked for are read; one past the latest is the server's NotFound, naming the runs there are.
    const missing = await kilnFails("runs:compare", exp, "1", "9");
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/no run 9: the experiment has runs 1 to \d+/)]);
  });

  it("lists the runs a filter keeps in an order, the ranked metric beside the run, as a table and as JSON", async () => {
    const table = (await kiln("runs", exp, "--order-by", "metrics.acc DESC")).trim().split("\n");
    expect(table).toEqual([
      expect.stringMatching(/^RUN\s+STATUS\s+STARTED\s+METRICS\.ACC\s+PARAMS\.C\s+PARAMS\.SOLVER\s+METRICS\.LOSS$/),
      expect.stringMatching(/^2\s+finished\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+0\.95\s+2\s*$/),
      expect.stringMatching(/^1\s+finished\s+\S+Z\s+0\.9\s+1\s+lbfgs\s+0\.3$/),
    ]);
    expect((await kiln("runs", exp, "--filter", "params.solver = 'lbfgs'")).trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["1"]);
    expect((await kiln("runs", exp, "--limit", "1")).trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["2"]); // newest first
    const json = JSON.parse(await kiln("--json", "runs", exp, "--filter", "metrics.acc > 0.92")) as { run: number; params: Record<string, unknown>; metrics: Record<string, { last: number; count: number }> }[];
    expect(json).toEqual([expect.objectContaining({ run: 2, status: "finished", params: { C: 2 }, metrics: { acc: { last: 0.95, lastStep: 2, min: 0.6, max: 0.95, count: 2 } } })]);
    // To a file, a column per param and metric (MLflow's search_runs DataFrame).
    const file = join(dir, "runs.csv");
    expect(await kiln("runs", exp, "--order-by", "metrics.acc DESC", "-o", file)).toBe(`wrote 2 runs to ${file}\n`);
    const lines = (await readFile(file, "utf8")).trim().split("\n");
    expect(lines[0]).toBe("run,status,start_time,end_time,metrics.acc,params.C,params.solver,metrics.loss");
    expect(lines.slice(1).map((l) => l.split(",").filter((_, i) => i !== 2 && i !== 3))).toEqual([
      ["2", "finished", "0.95", "2", "", ""],
      ["1", "finished", "0.9", "1", "lbfgs", "0.3"],
    ]);
    expect(lines[1]!.split(",")[2]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const bad = await kilnFails("runs", exp, "--filter", "metrics.acc >");
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/expected a value after metrics\.acc >.*INVALID_FILTER/)]);
  });

  it("shows one run: its fields, params, metrics with their last step, and artifacts; a run past the latest is not found", async () => {
    const shown = await kiln("runs:show", exp, "1");
    expect(shown).toMatch(/^run:\s+1\nstatus:\s+finished\nstarted:\s+\d{4}-\d\d-\d\dT[\d:.]+Z\nended:\s+\S+Z\nduration:\s+[\d.]+ s\nhost:\s+\S+\nopened by:\s*\ntags:\s*\n/);
    expect(shown).toMatch(/\nparams:\nPARAM\s+VALUE\nC\s+1\nsolver\s+lbfgs\n/);
    expect(shown).toMatch(/\nmetrics:\nMETRIC\s+LAST\s+STEP\s+MIN\s+MAX\s+COUNT\nacc\s+0\.9\s+3\s+0\.5\s+0\.9\s+3\nloss\s+0\.3\s+3\s+0\.3\s+0\.3\s+1\n/);
    expect(shown).toMatch(/\nartifacts:\nnone\n$/);
    const json = JSON.parse(await kiln("--json", "runs:show", exp, "2")) as { run: number; params: Record<string, unknown>; artifacts: unknown[] };
    expect(json).toMatchObject({ run: 2, status: "finished", params: { C: 2 }, artifacts: [] });
    expect((await kilnFails("runs:show", exp, "9")).stderr).toMatch(/no run 9: the experiment has runs 1 to \d+/);
  });

  it("writes an artifact a run logged: a file to -o or stdout, a JSON value printed; one not logged is an error", async () => {
    const logged = unique("artifacts");
    await sdk.experiment(logged).run(async (r) => {
      await r.logArtifact(new TextEncoder().encode("fold,score\n1,0.9\n"), "scores.csv");
      await r.logArtifact({ layers: [4, 2] }, "architecture");
    });
    expect(await kiln("experiments:artifact", logged, "scores.csv")).toBe("fold,score\n1,0.9\n");
    // The table says what each is; its hashes and chunks are in --json.
    const table = (await kiln("experiments:show", logged, "--event", "artifact")).trim().split("\n");
    expect(table.slice(1).map((line) => line.split(/\s{2,}/).slice(-2))).toEqual([
      ["scores.csv", "file, 17 B, application/octet-stream"],
      ["architecture", '{"layers":[4,2]}'],
    ]);
    expect(await kiln("runs:show", logged, "1")).toMatch(/\nartifacts:\nARTIFACT\s+LOGGED\s+VALUE\nscores\.csv\s+\S+Z\s+file, 17 B, application\/octet-stream\narchitecture\s+\S+Z\s+\{"layers":\[4,2\]\}\n$/);
    const file = join(dir, "scores.csv");
    expect(await kiln("experiments:artifact", logged, "scores.csv", "--run", "1", "-o", file)).toBe(`wrote 17 bytes to ${file}\n`);
    expect(await readFile(file, "utf8")).toBe("fold,score\n1,0.9\n");
    expect(JSON.parse(await kiln("experiments:artifact", logged, "architecture"))).toEqual({ layers: [4, 2] });
    expect((await kilnFails("experiments:artifact", logged, "nope")).stderr).toMatch(/logged no artifact "nope" \(ARTIFACT_NOT_FOUND\)/);
    expect((await kilnFails("experiments:artifact", logged, "scores.csv", "--run", "0")).stderr).toMatch(/--run/);
  });

  it("a bad filter is reported with its position and exit code 1", async () => {
    const bad = await kilnFails("experiments:show", exp, "--key", "acc", "--filter", "value >");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/position 7/);
  });

  it("drops an experiment with --yes; showing it then fails with not found", async () => {
    const gone = unique("gone");
    await sdk.experiment(gone).run((r) => r.logMetric("acc", 1));
    expect(await kiln("experiments:drop", gone, "--yes")).toBe(`dropped ${gone}\n`);
    const missing = await kilnFails("experiments:show", gone);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist.*EXPERIMENT_NOT_FOUND/);
  });
});

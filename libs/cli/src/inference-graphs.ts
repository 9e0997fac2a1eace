import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { graphDeployments, graphNodeText, graphStepText, type InferenceGraphSpec, type Kiln } from "@kiln/sdk";
import { batchesOf, readRows } from "./deployments.js";
import { writeTableFile } from "./formats.js";
import { resultsTarget } from "./job-results.js";
import { columnList } from "./option-values.js";
import { printJson, printTable, type Output } from "./output.js";

type Connect = () => Promise<Kiln>;

/** KServe's InferenceGraph: inference-graph, inference-graphs, inference-graphs:show, inference-graphs:predict, inference-graphs:delete. */
export function inferenceGraphCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("inference-graph")
    .description('create an inference graph from a JSON spec, or replace its nodes: {"nodes": {"root": {"routerType": "sequence", "steps": [{"deployment": "features", "kind": "transform"}, {"deployment": "churn"}]}}} (KServe\'s routerType, serviceName, nodeName and data "$request" too)')
    .argument("<id>")
    .argument("<spec>", "the JSON file")
    .option("--description <text>")
    .action(async (id: string, file: string, opts: { description?: string }) => {
      const o = output();
      const spec = await readSpec(file);
      if (opts.description !== undefined) spec.description = opts.description;
      const graph = await (await connect()).inferenceGraphs.apply(id, spec);
      if (o.json) return printJson(o, graph);
      const created = graph.createTime?.getTime() === graph.updateTime?.getTime();
      o.out.write(`${graph.id}: ${created ? "created" : "updated"} (${counted(Object.keys(graph.nodes).length, "node")}, ${counted(graphDeployments(graph).length, "deployment")})\n`);
    });

  program
    .command("inference-graphs")
    .description("the inference graphs: their nodes and deployments")
    .action(async () => {
      const o = output();
      const list = await (await connect()).inferenceGraphs.list();
      if (o.json) return printJson(o, list);
      printTable(
        o,
        list.map((g) => ({ id: g.id, nodes: Object.keys(g.nodes).length, description: g.description })),
        ["id", "nodes", "description"],
      );
    });

  program
    .command("inference-graphs:show")
    .description("an inference graph's nodes, each with its router and steps")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const g = await (await connect()).inferenceGraphs.get(id);
      if (o.json) return printJson(o, g);
      o.out.write(`name: ${g.name}\n${g.description ? `description: ${g.description}\n` : ""}`);
      for (const [name, node] of Object.entries(g.nodes).sort(([a], [b]) => (a === "root" ? -1 : b === "root" ? 1 : a.localeCompare(b)))) {
        o.out.write(`${name}: ${graphNodeText(node)}\n`);
        for (const step of node.steps) o.out.write(`  ${step.name}: ${graphStepText(step)}\n`);
      }
    });

  program
    .command("inference-graphs:predict")
    .description("run rows through an inference graph: JSON rows or a table file (./rows.csv); CSV on stdout unless -o names a file")
    .argument("<id>")
    .argument("<rows>", "JSON, a table file (a path with a \"/\"), or - for JSON on stdin")
    .option("--keep <a,b>", "input columns to copy into each result row before the outputs", columnList)
    .option("-o, --out <file>", "write rows to a file instead of stdout")
    .option("--format <format>", "csv, tsv, json, ndjson, arrow or parquet (default: from -o's extension)")
    .action(async (id: string, rows: string, opts: { keep?: string[]; out?: string; format?: string }) => {
      const o = output();
      const target = resultsTarget(o, opts.out, opts.format);
      const { table: out, steps } = await (await connect()).inferenceGraphs.predictWithSteps(id, await readRows(rows), { keep: opts.keep });
      for (const step of steps.filter((s) => s.passedOver)) o.err.write(`passed over node ${step.node}, step ${step.step}: ${step.failure!.message}\n`);
      await writeTableFile(batchesOf(out), target.path, target.format);
      if (target.path !== "-" && !o.json) o.out.write(`wrote ${out.numRows} rows to ${target.path}\n`);
    });

  program
    .command("inference-graphs:delete")
    .description("delete an inference graph (its deployments stay)")
    .argument("<id>")
    .action(async (id: string) => {
      await (await connect()).inferenceGraphs.delete(id);
      const o = output();
      if (o.json) printJson(o, { deleted: id });
    });
}

async function readSpec(file: string): Promise<InferenceGraphSpec> {
  const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${file}: ${e.code === "ENOENT" ? "no such file" : e.message}`);
  });
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not JSON: ${(e as Error).message}`);
  }
  if (!spec || typeof spec !== "object" || typeof (spec as { nodes?: unknown }).nodes !== "object") throw new Error(`${file}: a spec is {"nodes": {"root": {"routerType": …, "steps": […]}}}`);
  return spec as InferenceGraphSpec;
}

function counted(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

// The files `kiln init` writes: a project to train a model on Kiln and serve it, which runs as it is.

export interface ScaffoldOptions {
  /** The model's and the deployment's name. */
  name: string;
  /** A built-in estimator, e.g. "logistic_regression". */
  estimator: string;
  url: string;
  /** @kiln/sdk's version, for package.json. */
  sdkVersion: string;
}

/** File name → contents. */
export function scaffold(o: ScaffoldOptions): Record<string, string> {
  const config = { url: o.url, model: o.name, deployment: o.name, estimator: o.estimator, params: {}, data: "data.csv", target: "label" };
  return {
    "kiln.json": JSON.stringify(config, null, 2) + "\n",
    "package.json":
      JSON.stringify(
        {
          name: o.name,
          private: true,
          type: "module",
          scripts: { train: "node train.mjs", predict: "node predict.mjs" },
          dependencies: { "@kiln/sdk": `^${o.sdkVersion}` },
        },
        null,
        2,
      ) + "\n",
    "data.csv": sampleData(),
    "train.mjs": TRAIN,
    "predict.mjs": PREDICT,
    "README.md": readme(o),
  };
}

/** Two classes of 200 rows: label 1 when x0 + x1 > 0, as a first model learns them. */
function sampleData(): string {
  const lines = ["x0,x1,label"];
  for (let i = 0; i < 200; i++) {
    const x0 = Math.round(Math.sin(i * 12.9898) * 2000) / 1000;
    const x1 = Math.round(Math.cos(i * 78.233) * 2000) / 1000;
    lines.push(`${x0},${x1},${x0 + x1 > 0 ? 1 : 0}`);
  }
  return lines.join("\n") + "\n";
}

const TRAIN = `// Trains the model on data.csv on Kiln's executors, then serves it online:
//   npm run train            (KILN_URL, or kiln.json's url, names the server; KILN_TOKEN is sent if set)
import { readFile } from "node:fs/promises";
import { AlreadyExistsError, Kiln } from "@kiln/sdk";

const config = JSON.parse(await readFile(new URL("./kiln.json", import.meta.url), "utf8"));
const kiln = await Kiln.connect({ url: process.env.KILN_URL ?? config.url });
try {
  // The data as datasets: the features and the target, versioned by the store.
  const rows = parseCsv(await readFile(new URL(config.data, import.meta.url), "utf8"));
  const features = rows.map(({ [config.target]: _, ...x }) => x);
  const targets = rows.map((row) => ({ [config.target]: row[config.target] }));
  await kiln.datasets.put(\`\${config.model}-x\`, features, { mode: "replace" });
  await kiln.datasets.put(\`\${config.model}-y\`, targets, { mode: "replace" });

  // An untrained estimator the first time; each run trains a new version of it.
  await kiln.models.create(config.model, { estimator: config.estimator, params: config.params }).catch((e) => {
    if (!(e instanceof AlreadyExistsError)) throw e;
  });
  const fit = await kiln.runtime.model(config.model).fit(\`\${config.model}-x\`, \`\${config.model}-y\`);
  const trained = await fit.get();
  console.log(\`trained \${trained.modelVersion}: \${JSON.stringify(trained.metrics)}\`);

  // Served online: executors keep that version loaded (a new version moves the deployment to it).
  const model = trained.modelVersion;
  const deployed = await kiln.deployments.create(config.deployment, { model }).catch((e) => {
    if (!(e instanceof AlreadyExistsError)) throw e;
    return kiln.deployments.update(config.deployment, { model, canary: null });
  });
  console.log(\`deployment \${deployed.id}: \${deployed.modelVersion} \${deployed.state}\`);
} finally {
  kiln.close();
}

/** Rows of a CSV with a header; numbers where the cells are numbers. */
function parseCsv(text) {
  const [header, ...lines] = text.trim().split(/\\r?\\n/);
  const columns = header.split(",");
  return lines.map((line) => Object.fromEntries(line.split(",").map((cell, i) => [columns[i], cell !== "" && !Number.isNaN(Number(cell)) ? Number(cell) : cell])));
}
`;

const PREDICT = `// Asks the deployment for predictions of rows given as JSON, or of two sample rows:
//   npm run predict -- '[{"x0": 1.5, "x1": 0.2}]'
import { readFile } from "node:fs/promises";
import { Kiln } from "@kiln/sdk";

const config = JSON.parse(await readFile(new URL("./kiln.json", import.meta.url), "utf8"));
const kiln = await Kiln.connect({ url: process.env.KILN_URL ?? config.url });
try {
  const rows = process.argv[2] ? JSON.parse(process.argv[2]) : [{ x0: 1.5, x1: 0.2 }, { x0: -1, x1: -0.5 }];
  const predictions = await kiln.deployments.predict(config.deployment, rows);
  for (const row of predictions.toArray()) console.log(JSON.stringify(row.toJSON(), (_k, v) => (typeof v === "bigint" ? Number(v) : v)));
} finally {
  kiln.close();
}
`;

function readme(o: ScaffoldOptions): string {
  return `# ${o.name}

A model trained and served by Kiln, made by \`kiln init\`.

\`\`\`sh
npm install                # @kiln/sdk (not on the npm registry yet: npm install <a Kiln clone>/libs/sdk)
npm run train              # data.csv → datasets ${o.name}-x, ${o.name}-y → a ${o.estimator} fitted on Kiln → deployment ${o.name}
npm run predict            # two sample rows through the deployment
npm run predict -- '[{"x0": 1.5, "x1": 0.2}]'
\`\`\`

\`kiln.json\` says where Kiln runs (\`url\`; \`KILN_URL\` overrides it; a server that checks
tokens takes the one in \`KILN_TOKEN\`, never kept in the project), what to call the model
and the deployment, the estimator and its params, the data and its target column. Change
data.csv (or the estimator) and train again: a new version, and the deployment moves to it.
With the \`kiln\` CLI: \`kiln models:show ${o.name}\`, \`kiln deployments:show ${o.name}\`,
\`kiln predict ${o.name} '[{"x0": 1, "x1": 1}]'\`, and \`curl\` through the Open Inference
Protocol: \`curl -s \${KILN_URL:-${o.url}}/v2/models/${o.name}/infer -d '{"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP32", "data": [1, 1]}]}'\`.
`;
}

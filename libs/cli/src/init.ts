import { mkdir, readdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { DEFAULT_URL } from "@kiln/sdk";
import { printJson, type Output } from "./output.js";
import { scaffold } from "./scaffold.js";
import { cliVersion } from "./version.js";

const ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;

/** `kiln init`: a project folder to train a model on Kiln and serve it (kiln.json, data, train and predict scripts). */
export function initCommand(program: Command, output: () => Output): void {
  program
    .command("init")
    .description("scaffold a project that trains a model on Kiln and serves it: kiln.json, data.csv, train.mjs, predict.mjs, package.json")
    .argument("[dir]", "the folder to make (default: the current one)", ".")
    .option("--name <name>", "the model's and the deployment's name (default: the folder's)")
    .option("--estimator <estimator>", "a built-in estimator: logistic_regression, random_forest_classifier, linear_regression, ...", "logistic_regression")
    .option("--url <url>", "where Kiln runs, for kiln.json (default: $KILN_URL or http://127.0.0.1:7070)")
    .action(async (dir: string, opts: { name?: string; estimator: string; url?: string }) => {
      const o = output();
      const folder = resolve(dir);
      const name = opts.name ?? basename(folder);
      if (!ID.test(name)) throw new Error(`"${name}" cannot name a model: use letters, digits, "_", "-" or "." (--name picks another)`);
      await mkdir(folder, { recursive: true });
      const present = await readdir(folder);
      if (present.length > 0) throw new Error(`${folder} is not empty (${present.slice(0, 3).join(", ")}${present.length > 3 ? ", …" : ""}): kiln init makes a project in a new or empty folder`);
      // The CLI and the SDK are released together: the CLI's version is the SDK's.
      const sdkVersion = cliVersion();
      const files = scaffold({ name, estimator: opts.estimator, url: opts.url ?? process.env.KILN_URL ?? DEFAULT_URL, sdkVersion });
      for (const [file, text] of Object.entries(files)) await writeFile(join(folder, file), text);
      if (o.json) return printJson(o, { dir: folder, name, files: Object.keys(files) });
      o.out.write(`made ${name} in ${folder}: ${Object.keys(files).join(", ")}\n`);
      o.out.write(`next: ${dir === "." ? "" : `cd ${dir} && `}npm install && npm run train && npm run predict\n`);
    });
}

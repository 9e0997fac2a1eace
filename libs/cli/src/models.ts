import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { TRAINABLE_ATTACHMENT, TRAINABLE_FORMAT } from "@kiln/contracts";
import type { Kiln, ModelSource } from "@kiln/sdk";
import type { SerializedModel } from "@kiln/sdk/ml";
import { confirm } from "./confirm.js";
import { collect, parseJsonPairs, parsePairs } from "./key-values.js";
import { printModelVersion } from "./model-show.js";
import { formatBytes, printJson, printTable, type Output } from "./output.js";
import { progressBar } from "./progress.js";

// The estimators are loaded only by the commands that read them: a third of the CLI's modules.
const ml = () => import("@kiln/sdk/ml");

type Connect = () => Promise<Kiln>;

const tagList = (tags: Record<string, number>) =>
  Object.entries(tags)
    .map(([tag, v]) => `${tag}=${v}`)
    .join(", ");

/** The registry's verbs (Rorodata's): models, models:push, models:log, models:show, ... */
export function modelCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("models")
    .description("list models with their latest version and tags")
    .option("--filter <expr>", 'e.g. name = "churn*" AND labels.team = "risk"')
    .action(async (opts: { filter?: string }) => {
      const o = output();
      const list = await (await connect()).models.list({ filter: opts.filter });
      if (o.json) return printJson(o, list);
      printTable(
        o,
        list.map((m) => ({ name: m.id, latest: m.latestVersion || "", tags: tagList(m.tags), updated: m.updateTime, description: m.description })),
        ["name", "latest", "tags", "updated", "description"],
      );
    });

  program
    .command("models:create")
    .description("create an empty model, or with --estimator an untrained built-in estimator to fit with runtime:fit (models:push creates models by itself)")
    .argument("<name>")
    .option("--description <text>")
    .option("--label <key=value...>", "labels")
    .option("--estimator <kind|./file>", "version 1 is this estimator untrained, e.g. logistic_regression, RandomForestClassifier, or a kiln.ml document (a Pipeline, a Graph) in a file given by a path with a /")
    .option("--param <key=value>", "the estimator's param (repeatable); values that parse as JSON are JSON", collect)
    .action(async (name: string, opts: CreateFlags) => {
      const o = output();
      const params = parseJsonPairs("--param", opts.param);
      if (opts.param && !opts.estimator) throw new Error("--param needs --estimator");
      // An unknown kind or param name, or a document that does not load, fails here, before the model exists.
      const { estimatorFromParams, loadModel } = await ml();
      const fromFile = opts.estimator?.includes("/") ? loadModel(await readFile(opts.estimator, "utf8")) : undefined;
      if (fromFile && opts.param) throw new Error(`--param goes with an estimator named by kind; ${opts.estimator} carries its own params`);
      const estimator = fromFile ?? (opts.estimator ? estimatorFromParams(opts.estimator, params).kind : undefined);
      const kiln = await connect();
      const model = await kiln.models.create(name, { description: opts.description, labels: parsePairs("--label", opts.label), estimator, params: typeof estimator === "string" ? params : undefined });
      if (o.json) return printJson(o, model);
      o.out.write(`created ${model.id}${estimator ? `, version 1: ${typeof estimator === "string" ? estimator : estimator.kind} (untrained)` : ""}\n`);
    });

  program
    .command("models:push")
    .description("upload a model file as a new version (creating the model if needed)")
    .argument("<name>")
    .argument("<file>", 'path, or "-" for stdin')
    .option("--format <format>", "onnx, sklearn-pickle, pytorch, ... (default: from the extension)")
    .option("--comment <text>")
    .option("--tag <tag...>", "tags to point at the new version")
    .option("--meta <key=value...>", "metadata; values that parse as JSON are JSON")
    .option("--attach <file...>", "files to attach to the version")
    .action(async (name: string, file: string, opts: PushFlags) => {
      const o = output();
      const kiln = await connect();
      const bar = progressBar(`push ${name}`);
      try {
        const source: ModelSource = file === "-" ? process.stdin : file;
        const version = await kiln.models.put(name, source, {
          format: opts.format,
          comment: opts.comment,
          tags: opts.tag,
          metadata: parseJsonPairs("--meta", opts.meta),
          attachments: opts.attach,
          onProgress: bar.onProgress,
        });
        bar.done();
        if (o.json) return printJson(o, version);
        const tags = version.tags.length ? `, tags ${version.tags.join(", ")}` : "";
        o.out.write(`${version.model}: version ${version.version}, ${version.format}${version.runnable ? " (runnable)" : ""}, ${formatBytes(version.size)}${tags}\n`);
      } finally {
        bar.done();
      }
    });

  program
    .command("models:log")
    .description("versions newest first, of one model or of all")
    .argument("[name]")
    .action(async (name: string | undefined) => {
      const o = output();
      const versions = await (await connect()).models.log(name);
      if (o.json) return printJson(o, versions);
      const columns = ["version", "tags", "format", "size", "author", "created", "comment"];
      printTable(
        o,
        versions.map((v) => ({ model: v.model, version: v.version, tags: v.tags.join(", "), format: v.format, size: formatBytes(v.size), author: v.author, created: v.createTime, comment: v.comment })),
        name === undefined ? ["model", ...columns] : columns,
      );
    });

  program
    .command("models:show")
    .description("a version's metadata, signature, attachments and lineage")
    .argument("<ref>", "NAME, NAME:VERSION or NAME:TAG")
    .action(async (ref: string) => {
      const o = output();
      const version = await (await connect()).models.get(ref);
      if (o.json) return printJson(o, version);
      printModelVersion(o, version);
    });

  program
    .command("models:graph")
    .description("draw a version's pipeline (a Graph, a Pipeline, one estimator) as Mermaid, or Graphviz DOT")
    .argument("<ref>", "NAME, NAME:VERSION or NAME:TAG")
    .option("--dot", "Graphviz DOT (dot -Tsvg) instead of Mermaid")
    .action(async (ref: string, opts: { dot?: boolean }) => {
      const kiln = await connect();
      const version = await kiln.models.get(ref);
      // An untrained definition (models:create --estimator) is the version's file; a trained one's state is attached.
      let state: Uint8Array;
      if (version.format === TRAINABLE_FORMAT) state = await kiln.models.bytes(ref);
      else if (version.attachments.some((a) => a.name === TRAINABLE_ATTACHMENT)) state = await kiln.models.attachment(ref, TRAINABLE_ATTACHMENT);
      else throw new Error(`${ref} has no ${TRAINABLE_ATTACHMENT} (a model file uploaded as it is): there is no pipeline to draw`);
      const doc = JSON.parse(new TextDecoder().decode(state)) as SerializedModel;
      // A kind by name has no state until it is fitted.
      const { drawModel, estimatorFromParams, loadModel } = await ml();
      const model = doc.state == null ? estimatorFromParams(doc.kind, doc.params) : loadModel(doc);
      output().out.write(drawModel(model, opts.dot ? "dot" : "mermaid"));
    });

  program
    .command("models:download")
    .description("write a version's model file and its attachments (under DIR/attachments/)")
    .argument("<ref>", "NAME, NAME:VERSION or NAME:TAG")
    .option("-o, --output <dir>", "folder to write to", ".")
    .action(async (ref: string, opts: { output: string }) => {
      const o = output();
      const kiln = await connect();
      const bar = progressBar(`download ${ref}`);
      try {
        const downloaded = await kiln.models.download(ref, opts.output, { onProgress: bar.onProgress });
        bar.done();
        if (o.json) return printJson(o, downloaded);
        for (const path of [downloaded.model, ...downloaded.attachments]) o.out.write(`${path}\n`);
      } finally {
        bar.done();
      }
    });

  program
    .command("models:tag")
    .description("point a tag at a version (moving it if it named another)")
    .argument("<ref>", "NAME, NAME:VERSION or NAME:TAG")
    .argument("<tag>")
    .action(async (ref: string, tag: string) => {
      const o = output();
      const previous = await (await connect()).models.tag(ref, tag);
      if (o.json) return printJson(o, { ref, tag, previousVersion: previous });
      o.out.write(`${tag} → ${ref}${previous ? ` (was version ${previous})` : ""}\n`);
    });

  program
    .command("models:untag")
    .description("remove a tag")
    .argument("<name>")
    .argument("<tag>")
    .action(async (name: string, tag: string) => {
      const o = output();
      const model = await (await connect()).models.untag(name, tag);
      if (o.json) return printJson(o, model);
      o.out.write(`removed ${tag} from ${model.id}\n`);
    });

  program
    .command("models:meta")
    .description("set metadata keys on a version (values that parse as JSON are JSON)")
    .argument("<ref>", "NAME, NAME:VERSION or NAME:TAG")
    .argument("<key=value...>")
    .option("--replace", "replace the whole metadata object instead of setting these keys")
    .action(async (ref: string, pairs: string[], opts: { replace?: boolean }) => {
      const o = output();
      const version = await (await connect()).models.setMetadata(ref, parseJsonPairs("metadata", pairs), { merge: !opts.replace });
      if (o.json) return printJson(o, version);
      o.out.write(`${version.model}:${version.version} ${JSON.stringify(version.metadata)}\n`);
    });

  program
    .command("models:drop")
    .description("delete a model with all its versions and attachments, or one version of it (NAME:VERSION)")
    .argument("<name>", "NAME, or NAME:VERSION for one version (by its number)")
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (name: string, opts: { yes?: boolean }) => {
      const o = output();
      const kiln = await connect();
      const colon = name.indexOf(":");
      if (colon >= 0) {
        if (!opts.yes && !(await confirm(`drop version ${name.slice(colon + 1)} of ${name.slice(0, colon)}?`, `pass --yes to drop ${name}`))) return void o.err.write("not dropped\n");
        const model = await kiln.models.dropVersion(name);
        if (o.json) return printJson(o, { name, dropped: true, latestVersion: model.latestVersion });
        return void o.out.write(`dropped ${name}\n`);
      }
      if (!opts.yes) {
        const model = await kiln.models.info(name);
        const versions = (await kiln.models.log(name)).length;
        if (!(await confirm(`drop ${model.id} and its ${versions} version${versions === 1 ? "" : "s"}?`, `pass --yes to drop ${model.id}`))) return void o.err.write("not dropped\n");
      }
      await kiln.models.drop(name);
      if (o.json) return printJson(o, { name, dropped: true });
      o.out.write(`dropped ${name}\n`);
    });
}

interface CreateFlags {
  description?: string;
  label?: string[];
  estimator?: string;
  param?: string[];
}

interface PushFlags {
  format?: string;
  comment?: string;
  tag?: string[];
  meta?: string[];
  attach?: string[];
}

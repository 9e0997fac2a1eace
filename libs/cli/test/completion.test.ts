import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const KILN_BIN = join(import.meta.dirname, "../bin/kiln.js");

/** The script `kiln completion <shell>` prints, saved in a folder of its own for the tests of that shell; the folder goes after them. */
function scriptFor(shell: "bash" | "zsh" | "fish"): { dir: string; script: string } {
  const made = { dir: "", script: "" };
  beforeAll(async () => {
    made.dir = await mkdtemp(join(tmpdir(), `kiln-completion-${shell}-`));
    made.script = join(made.dir, `kiln.${shell}`);
    await writeFile(made.script, (await run(process.execPath, [KILN_BIN, "completion", shell])).stdout);
  });
  afterAll(async () => {
    await rm(made.dir, { recursive: true, force: true });
  });
  return made;
}

describe("kiln completion bash", () => {
  const made = scriptFor("bash");

  /** What bash offers for the line as typed so far (its words split at ":" as bash splits them). */
  async function offered(line: string): Promise<string[]> {
    const shell = `source ${JSON.stringify(made.script)}; COMP_LINE=$1; COMP_POINT=\${#COMP_LINE}; _kiln; printf '%s\\n' "\${COMPREPLY[@]}"; complete -p kiln >&2`;
    const { stdout, stderr } = await run("bash", ["-c", shell, "bash", line]);
    expect(stderr).toBe("complete -o default -F _kiln kiln\n");
    return stdout.split("\n").filter(Boolean);
  }

  it("completes command names, handing back what follows the last \":\" as bash needs", async () => {
    expect(await offered("kiln datasets:p")).toEqual(["put", "profile"]);
    expect(await offered("kiln jobs:")).toEqual(["show", "watch", "results", "cancel", "delete", "purge"]);
    expect(await offered("kiln jo")).toEqual(["jobs", "jobs:show", "jobs:watch", "jobs:results", "jobs:cancel", "jobs:delete", "jobs:purge"]);
    expect(await offered("kiln --url http://127.0.0.1:7070 inference-graphs:p")).toEqual(["predict"]);
    const all = await offered("kiln ");
    expect(all).toEqual(expect.arrayContaining(["serve", "datasets:put", "runtime:predict", "inference-graphs:predict", "completion", "--url", "--json", "--version"]));
    expect(all).not.toContain("help");
  });

  it("completes a command's options, and leaves its arguments to bash (file names)", async () => {
    expect(await offered("kiln datasets:get sales --f")).toEqual(["--filter", "--format"]);
    expect(await offered("kiln --json deploy churn churn --")).toEqual(expect.arrayContaining(["--replicas", "--help"]));
    expect(await offered("kiln datasets:put sales ./")).toEqual([]);
  });

  it("refuses a shell it has no script for", async () => {
    await expect(run(process.execPath, [KILN_BIN, "completion", "tcsh"])).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/completion is for bash, zsh, fish, not tcsh/) });
  });
});

const ZSH_DRIVER = join(import.meta.dirname, "zsh-complete.zsh");

describe.skipIf(!has("zsh"))("kiln completion zsh", () => {
  const made = scriptFor("zsh");
  beforeAll(() => writeFile(join(made.dir, "sales-2026.csv"), "a\n1\n"));

  /** Each line as Tab completed it in an interactive zsh (see zsh-complete.zsh). */
  async function completed(...lines: string[]): Promise<string[]> {
    const { stdout } = await run("zsh", ["-f", ZSH_DRIVER, made.script, made.dir, ...lines]);
    const printed = stdout.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, "").split(/\r?\n|\r/);
    return printed.filter((l) => l.startsWith("DONE: ")).map((l) => l.slice("DONE: ".length));
  }

  it("completes command names (their \":\" kept), a command's options and the global ones, and file names for arguments", async () => {
    expect(await completed("kiln jobs:ca", "kiln inference-graphs:pre", "kiln datasets:get sales --fo", "kiln --js", "kiln datasets:put sales sales-")).toEqual([
      "kiln jobs:cancel",
      "kiln inference-graphs:predict",
      "kiln datasets:get sales --format",
      "kiln --json",
      "kiln datasets:put sales sales-2026.csv",
    ]);
  });
});

describe.skipIf(!has("fish"))("kiln completion fish", () => {
  const made = scriptFor("fish");
  beforeAll(() => writeFile(join(made.dir, "sales-2026.csv"), "a\n1\n"));

  /** What fish offers for the line as typed so far (`complete -C`), each "candidate\tdescription". */
  async function offered(line: string): Promise<string[]> {
    const { stdout, stderr } = await run("fish", ["--no-config", "-c", `source ${made.script}; cd ${made.dir}; complete -C $argv[1]`, line]);
    expect(stderr).toBe("");
    return stdout.split("\n").filter(Boolean);
  }

  it("completes command names with their descriptions, a command's options and the global ones, and file names for arguments", async () => {
    expect(await offered("kiln jobs:ca")).toEqual(["jobs:cancel\tcancel a queued or running job"]);
    expect(await offered("kiln --url http://127.0.0.1:7070 inference-graphs:pre")).toEqual([expect.stringMatching(/^inference-graphs:predict\t/)]);
    expect(await offered("kiln datasets:get sales --fo")).toEqual([expect.stringMatching(/^--format\t/)]);
    expect((await offered("kiln -")).map((c) => c.split("\t")[0])).toEqual(expect.arrayContaining(["--json", "--url", "--version"]));
    expect(await offered("kiln datasets:put sales sales-")).toEqual(["sales-2026.csv"]);
    const all = (await offered("kiln ")).map((c) => c.split("\t")[0]);
    expect(all).toEqual(expect.arrayContaining(["serve", "datasets:put", "runtime:predict", "completion"]));
    expect(all).not.toContain("help");
  });
});

/** Whether this machine has the shell (CI installs zsh and fish). */
function has(shell: "zsh" | "fish"): boolean {
  try {
    execFileSync(shell, shell === "zsh" ? ["-f", "-c", "true"] : ["--no-config", "-c", "true"]);
    return true;
  } catch {
    return false;
  }
}

import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeStaleSpoolFiles } from "../src/index.js";

describe("removing what a crash left in a spool", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("removes files older than the limit and keeps newer ones (they may be in use)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kiln-spool-"));
    dirs.push(dir);
    await writeFile(join(dir, "old.upload"), "x");
    await writeFile(join(dir, "new.upload"), "y");
    await mkdir(join(dir, "sub"));
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(dir, "old.upload"), twoHoursAgo, twoHoursAgo);
    expect(await removeStaleSpoolFiles(dir)).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(["new.upload", "sub"]);
  });

  it("is content with a spool that does not exist yet", async () => {
    expect(await removeStaleSpoolFiles(join(tmpdir(), "kiln-no-such-spool-dir"))).toBe(0);
  });
});

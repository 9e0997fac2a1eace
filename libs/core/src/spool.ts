import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/** Removes spool files a crashed process left behind (older than `olderThanMs`; newer ones may be in use). */
export async function removeStaleSpoolFiles(dir: string, olderThanMs = 3_600_000, now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() && now - info.mtimeMs > olderThanMs) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}

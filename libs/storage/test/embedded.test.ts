import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFsBlobStore, openSqliteMetadataStore } from "../src/index.js";
import { describeBlobStore } from "./blob-conformance.js";
import { describeMetadataStore } from "./metadata-conformance.js";

async function tempDir() {
  return mkdtemp(join(tmpdir(), "kiln-storage-"));
}

describeMetadataStore("SQLite", async () => {
  const dir = await tempDir();
  const store = openSqliteMetadataStore(join(dir, "meta.sqlite"));
  return { store, cleanup: async () => (await store.close(), await rm(dir, { recursive: true, force: true })) };
});

describeBlobStore("folder", async () => {
  const dir = await tempDir();
  const store = openFsBlobStore(dir);
  return {
    store,
    corrupt: (sha, bytes) => writeFile(join(dir, sha.slice(0, 2), sha.slice(2, 4), sha), bytes),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

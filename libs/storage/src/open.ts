import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "@kiln/core";
import type { BlobStore } from "./blob.js";
import type { MetadataStore } from "./metadata.js";
import { openFsBlobStore } from "./fs-blob.js";
import { openMongoMetadataStore, openS3BlobStore } from "./lazy-drivers.js";
import { openSqliteMetadataStore } from "./sqlite-metadata.js";

/** The metadata backend the config names; SQLite lives at <dataDir>/<name>.sqlite. */
export async function openMetadataStore(config: Config, name = "kiln"): Promise<MetadataStore> {
  if (config.metadata.backend === "mongodb") return openMongoMetadataStore(config.metadata.uri, config.metadata.database);
  await mkdir(config.dataDir, { recursive: true });
  return openSqliteMetadataStore(join(config.dataDir, `${name}.sqlite`));
}

/** The blob backend the config names, in a namespace of its own per service (folder or key prefix). */
export async function openBlobStore(config: Config, namespace: string): Promise<BlobStore> {
  if (config.blobs.backend === "s3") {
    const s3 = config.blobs.s3;
    return openS3BlobStore({ ...s3, prefix: `${s3.prefix}${namespace}/` });
  }
  const dir = join(config.dataDir, "blobs", namespace);
  await mkdir(dir, { recursive: true });
  return openFsBlobStore(dir);
}

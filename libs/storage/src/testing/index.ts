import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";
import type { S3BlobStoreOptions } from "../s3-blob.js";

/** An S3 server for tests of the S3 path: s3rver on a free port over a temp folder, with one bucket. */
export interface TestS3Server {
  endpoint: string;
  /** What openS3BlobStore needs to use the bucket under `prefix`. */
  options(prefix?: string): S3BlobStoreOptions;
  /** Stops the server and removes its folder. */
  stop(): Promise<void>;
}

export async function startS3rver(bucket = "kiln"): Promise<TestS3Server> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-s3rver-"));
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    options: (prefix = "") => ({ bucket, prefix, endpoint, accessKeyId: "S3RVER", secretAccessKey: "S3RVER", forcePathStyle: true }),
    async stop() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { MongoClient } from "mongodb";
import S3rver from "s3rver";
import { openMongoEventStore, openMongoMetadataStore, openS3BlobStore } from "../src/index.js";
import { describeBlobStore } from "./blob-conformance.js";
import { describeEventStore } from "./event-conformance.js";
import { describeMetadataStore } from "./metadata-conformance.js";

const mongoUri = process.env.KILN_TEST_MONGODB_URI;

/** A store on a database of its own, dropped afterwards. */
async function inThrowawayDatabase<S extends { close(): Promise<void> }>(open: (uri: string, database: string) => Promise<S>) {
  const database = `kiln_test_${randomUUID().slice(0, 8)}`;
  const store = await open(mongoUri!, database);
  return {
    store,
    cleanup: async () => {
      await store.close();
      const client = await new MongoClient(mongoUri!).connect();
      await client.db(database).dropDatabase();
      await client.close();
    },
  };
}

describeMetadataStore("MongoDB", () => inThrowawayDatabase(openMongoMetadataStore), { skip: !mongoUri });
describeEventStore("MongoDB", () => inThrowawayDatabase(openMongoEventStore), { skip: !mongoUri });

let s3: { close(): Promise<void>; endpoint: string; dir: string };
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "kiln-s3rver-"));
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: dir, configureBuckets: [{ name: "kiln", configs: [] }] });
  const { port } = (await server.run()) as { port: number };
  s3 = { endpoint: `http://127.0.0.1:${port}`, dir, close: () => server.close() };
});
afterAll(async () => {
  await s3?.close();
  if (s3) await rm(s3.dir, { recursive: true, force: true });
});

describeBlobStore("S3 (s3rver)", async () => {
  const prefix = `t${randomUUID().slice(0, 8)}/`;
  const options = { bucket: "kiln", prefix, endpoint: s3.endpoint, accessKeyId: "S3RVER", secretAccessKey: "S3RVER", forcePathStyle: true };
  const store = await openS3BlobStore(options);
  const raw = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
  return {
    store,
    corrupt: async (sha, bytes) => void (await raw.send(new PutObjectCommand({ Bucket: "kiln", Key: `${prefix}blobs/${sha}`, Body: bytes }))),
    cleanup: async () => {
      raw.destroy();
      await store.close();
    },
  };
});

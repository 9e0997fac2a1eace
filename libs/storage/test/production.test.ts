import { randomUUID } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { MongoClient } from "mongodb";
import { openMongoEventStore, openMongoMetadataStore, openS3BlobStore } from "../src/index.js";
import { startS3rver, type TestS3Server } from "../src/testing/index.js";
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

let s3: TestS3Server;
beforeAll(async () => (s3 = await startS3rver()));
afterAll(async () => s3?.stop());

describeBlobStore("S3 (s3rver)", async () => {
  const prefix = `t${randomUUID().slice(0, 8)}/`;
  const store = await openS3BlobStore(s3.options(prefix));
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

import { createHash, randomUUID } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { dataLoss, notFound } from "@kiln/core";
import type { BlobInfo, BlobStore, GetOptions } from "./blob.js";
import { checkBlobId } from "./fs-blob.js";

export interface S3BlobStoreOptions {
  bucket: string;
  prefix?: string;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle?: boolean;
}

const isMissing = (e: unknown) => e instanceof NoSuchKey || e instanceof NotFound || (e as { name?: string }).name === "NotFound" || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404;

/**
 * Blobs in any S3-compatible store under <prefix>blobs/<sha256>. The digest is known
 * only at the end of a streamed put, so the bytes go up (multipart) to a temporary key
 * and are then copied into place server-side.
 */
export async function openS3BlobStore(options: S3BlobStoreOptions): Promise<BlobStore> {
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region ?? "us-east-1",
    forcePathStyle: options.forcePathStyle ?? true,
    credentials: options.accessKeyId && options.secretAccessKey ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } : undefined,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const Bucket = options.bucket;
  const prefix = options.prefix ?? "";
  const keyOf = (sha: string) => `${prefix}blobs/${checkBlobId(sha)}`;

  async function stat(sha256: string): Promise<BlobInfo | undefined> {
    try {
      const head = await client.send(new HeadObjectCommand({ Bucket, Key: keyOf(sha256) }));
      return { sha256, size: head.ContentLength ?? 0 };
    } catch (e) {
      if (isMissing(e)) return undefined;
      throw e;
    }
  }

  async function* get(sha256: string, options?: GetOptions): AsyncGenerator<Uint8Array> {
    const verify = options?.verify !== false;
    let body: Readable;
    try {
      body = (await client.send(new GetObjectCommand({ Bucket, Key: keyOf(sha256) }))).Body as Readable;
    } catch (e) {
      if (isMissing(e)) throw notFound("BLOB_NOT_FOUND", `blob ${sha256} not found`);
      throw e;
    }
    const hash = createHash("sha256");
    for await (const piece of body) {
      if (verify) hash.update(piece as Buffer);
      yield piece as Buffer;
    }
    if (verify && hash.digest("hex") !== sha256) throw dataLoss("BLOB_CORRUPT", `blob ${sha256} does not match its digest`);
  }

  return {
    async put(data) {
      const tempKey = `${prefix}tmp/${randomUUID()}`;
      const hash = createHash("sha256");
      let size = 0;
      const body = new PassThrough({ highWaterMark: 1024 * 1024 });
      const upload = new Upload({ client, params: { Bucket, Key: tempKey, Body: body }, partSize: 8 * 1024 * 1024, queueSize: 2 });
      const uploaded = upload.done();
      try {
        for await (const piece of data instanceof Uint8Array ? [data] : data) {
          hash.update(piece);
          size += piece.length;
          if (!body.write(piece)) await new Promise((r) => body.once("drain", r));
        }
        body.end();
        await uploaded;
        const sha256 = hash.digest("hex");
        if (!(await stat(sha256))) {
          await client.send(new CopyObjectCommand({ Bucket, Key: keyOf(sha256), CopySource: `${Bucket}/${encodeURI(tempKey)}` }));
        }
        return { sha256, size };
      } catch (e) {
        body.destroy();
        await uploaded.catch(() => {});
        throw e;
      } finally {
        await client.send(new DeleteObjectCommand({ Bucket, Key: tempKey })).catch(() => {});
      }
    },
    get,
    async getBytes(sha256) {
      const parts: Uint8Array[] = [];
      for await (const p of get(sha256)) parts.push(p);
      return Buffer.concat(parts);
    },
    stat,
    async has(sha256) {
      return (await stat(sha256)) !== undefined;
    },
    async delete(sha256) {
      if (!(await stat(sha256))) return false;
      await client.send(new DeleteObjectCommand({ Bucket, Key: keyOf(sha256) }));
      return true;
    },
    async close() {
      client.destroy();
    },
  };
}

import type { BlobStore } from "./blob.js";
import type { EventStore } from "./event-store.js";
import type { MetadataStore } from "./metadata.js";
import type { S3BlobStoreOptions } from "./s3-blob.js";

// The MongoDB driver and the AWS SDK load when a store of theirs is first opened: imported
// up front they made up ~12 MB of an embedded server's ~32 MB heap, which every full
// garbage collection marks (a million-row predict in embedded mode causes one or two).

export async function openMongoMetadataStore(uri: string, database: string): Promise<MetadataStore> {
  return (await import("./mongo-metadata.js")).openMongoMetadataStore(uri, database);
}

export async function openMongoEventStore(uri: string, database: string): Promise<EventStore> {
  return (await import("./mongo-event-store.js")).openMongoEventStore(uri, database);
}

export async function openS3BlobStore(options: S3BlobStoreOptions): Promise<BlobStore> {
  return (await import("./s3-blob.js")).openS3BlobStore(options);
}

export * from "./metadata.js";
export * from "./blob.js";
export { openSqliteMetadataStore } from "./sqlite-metadata.js";
export { openFsBlobStore, checkBlobId } from "./fs-blob.js";
export { openMongoMetadataStore } from "./mongo-metadata.js";
export { openS3BlobStore, type S3BlobStoreOptions } from "./s3-blob.js";
export { openMetadataStore, openBlobStore } from "./open.js";
export * from "./garbage.js";
export * from "./scan-page.js";

import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { failedPrecondition, invalidArgument, isKilnError, notFound, type TokenClaims } from "@kiln/core";
import { create } from "@bufbuild/protobuf";
import { ElementType } from "@kiln/proto/kiln/common/v1/tensor_pb";
import {
  WriteHeaderSchema,
  type AbortUploadRequest,
  type AppendUploadRequest,
  type BeginUploadRequest,
  type CommitUploadRequest,
  type GetUploadRequest,
} from "@kiln/proto/kiln/store/v1/store_pb";
import { createHash } from "node:crypto";
import { ChunkAccumulator, type AccumulatorState } from "./accumulator.js";
import { commitWrite } from "./commit.js";
import type { StoreDeps } from "./deps.js";
import { versionToProto } from "./records.js";
import { UPLOADS } from "./records.js";
import { writeSpecFromHeader, type WriteSpec } from "./write-spec.js";
import { storeGarbage } from "./garbage.js";

interface UploadRecord {
  id: string;
  spec: WriteSpec;
  state: AccumulatorState;
  createTime: string;
  /** Last append; the TTL counts from here. */
  touchTime?: string;
  committing?: boolean;
}

const UPLOAD_ID = /^[0-9a-f-]{36}$/;
/** An upload untouched this long is abandoned: it is removed with the chunks only it holds. */
export const UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;
const SWEEP_EVERY_MS = 60 * 60 * 1000;

/**
 * Resumable uploads: the same write as WriteDataset, as unary calls whose state lives
 * in the metadata store, so a client can resume after a dropped connection or a
 * server restart. Each append is compare-and-set on the upload record.
 */
export function createUploads(deps: StoreDeps) {
  const uploads = deps.metadata.collection<UploadRecord>(UPLOADS);
  const now = deps.now ?? (() => new Date());
  const expired = (u: UploadRecord) => now().getTime() - Date.parse(u.touchTime ?? u.createTime) > UPLOAD_TTL_MS;
  let lastSweep = 0;
  const garbage = storeGarbage(deps);

  async function load(id: string) {
    if (!UPLOAD_ID.test(id)) throw invalidArgument("INVALID_UPLOAD_ID", `invalid upload id "${id.slice(0, 80)}"`);
    const found = await uploads.get(id);
    if (!found || expired(found.value)) {
      throw notFound("UPLOAD_NOT_FOUND", `upload ${id} not found (committed, aborted, expired, or never begun)`, { upload: id });
    }
    return found;
  }

  /** Removes abandoned uploads, marks their chunks as garbage, and sweeps garbage that is due. */
  async function sweep(): Promise<void> {
    if (now().getTime() - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = now().getTime();
    const all = await uploads.list();
    const candidates: string[] = [];
    for (const u of all.filter((u) => expired(u.value))) {
      if (await uploads.delete(u.key, u.rev)) candidates.push(...u.value.state.chunks.map((c) => c.sha256));
    }
    await garbage.mark(candidates);
    const deleted = await garbage.sweep();
    deps.logger.debug({ deleted }, "garbage swept");
  }

  return {
    /** Housekeeping, at most hourly: run it from any RPC, it returns at once when not due. */
    maintain: sweep,

    /** `caller`: the claims of the upload's token, where tokens are checked. */
    async begin(req: BeginUploadRequest, caller?: TokenClaims) {
      await sweep();
      const { spec } = writeSpecFromHeader(req.header, caller);
      new ChunkAccumulator(spec, deps); // validates the header's schema now, not at the first append
      const record: UploadRecord = { id: randomUUID(), spec, state: { chunks: [], nextOffset: 0, arrowSchema: spec.arrowSchema }, createTime: now().toISOString() };
      await uploads.create(record.id, record);
      return { uploadId: record.id };
    },

    async append(req: AppendUploadRequest) {
      const data = req.chunk?.data ?? new Uint8Array();
      const offset = Number(req.offset);
      for (;;) {
        const { value: upload, rev } = await load(req.uploadId);
        if (offset < upload.state.nextOffset) return retriedAppend(upload, offset, data);
        if (offset > upload.state.nextOffset) {
          throw failedPrecondition("OFFSET_MISMATCH", `upload ${upload.id} expects offset ${upload.state.nextOffset}, got ${offset}`, {
            nextOffset: String(upload.state.nextOffset),
          });
        }
        const accumulator = new ChunkAccumulator(upload.spec, deps, structuredClone(upload.state));
        await accumulator.add(data);
        try {
          await uploads.update(upload.id, { ...upload, state: accumulator.state, touchTime: now().toISOString() }, rev);
          return { nextOffset: BigInt(accumulator.state.nextOffset) };
        } catch (e) {
          if (!isKilnError(e, Code.Aborted)) throw e; // a concurrent append won; look again
        }
      }
    },

    async get(req: GetUploadRequest) {
      const { value: upload } = await load(req.uploadId);
      const s = upload.spec;
      return {
        uploadId: upload.id,
        nextOffset: BigInt(upload.state.nextOffset),
        chunkCount: upload.state.chunks.length,
        header: create(WriteHeaderSchema, {
          name: s.name,
          kind: s.kind,
          mode: s.mode,
          description: s.description,
          labels: s.labels,
          arrowSchema: s.arrowSchema ? Buffer.from(s.arrowSchema, "base64") : new Uint8Array(),
          dtype: s.dtype ?? ElementType.UNSPECIFIED,
          rowShape: s.rowShape.map(BigInt),
          mediaType: s.mediaType,
          comment: s.comment,
        }),
      };
    },

    async commit(req: CommitUploadRequest) {
      const { value: upload, rev } = await load(req.uploadId);
      if (Number(req.size) !== upload.state.nextOffset) {
        throw failedPrecondition("SIZE_MISMATCH", `upload ${upload.id} received ${upload.state.nextOffset} bytes, the client sent ${req.size}`, {
          nextOffset: String(upload.state.nextOffset),
        });
      }
      // Claim the upload first so two commits cannot both make a version; a failed
      // commit releases it, so the client can fix the cause and commit again.
      if (upload.committing) throw failedPrecondition("UPLOAD_COMMITTING", `upload ${upload.id} is being committed`);
      try {
        await uploads.update(upload.id, { ...upload, committing: true }, rev);
      } catch (e) {
        if (isKilnError(e, Code.Aborted)) throw failedPrecondition("UPLOAD_COMMITTING", `upload ${upload.id} changed while committing; retry`);
        throw e;
      }
      try {
        const accumulator = new ChunkAccumulator(upload.spec, deps, upload.state);
        const version = await commitWrite(deps, upload.spec, await accumulator.finish());
        await uploads.delete(upload.id);
        return { version: versionToProto(version) };
      } catch (e) {
        const current = await uploads.get(upload.id);
        if (current) await uploads.update(upload.id, { ...current.value, committing: false }, current.rev).catch(() => {});
        throw e;
      }
    },

    async abort(req: AbortUploadRequest) {
      await load(req.uploadId);
      await uploads.delete(req.uploadId);
      return {};
    },
  };
}

function retriedAppend(upload: UploadRecord, offset: number, data: Uint8Array) {
  const earlier = upload.state.chunks.find((c) => c.offset === offset);
  const sha = createHash("sha256").update(data).digest("hex");
  if (!earlier || earlier.sha256 !== sha) {
    throw failedPrecondition("OFFSET_MISMATCH", `upload ${upload.id} already has different bytes at offset ${offset}; next offset is ${upload.state.nextOffset}`, {
      nextOffset: String(upload.state.nextOffset),
    });
  }
  return { nextOffset: BigInt(upload.state.nextOffset) };
}

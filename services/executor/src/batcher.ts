import type { JobError } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { KilnError } from "@kiln/core";
import { codeOf } from "@kiln/contracts";

interface Pending<Req, Res> {
  req: Req;
  resolve: (res: Res) => void;
  reject: (e: unknown) => void;
}

/** Per request, in order: the answer or the error that request met. */
export type SendBatch<Req, Res> = (reqs: Req[]) => Promise<({ response: Res } | { error: JobError })[]>;

/**
 * Turns single calls into batch calls, Nagle style: the first call goes out on the next
 * turn of the event loop (with any made in the same turn), and the calls made while a
 * batch is in flight go together in the next one. One job alone waits for nothing; a
 * busy executor makes one call per batch instead of one per job.
 */
export class Batcher<Req, Res> {
  private readonly queue: Pending<Req, Res>[] = [];
  private busy = false;

  constructor(
    private readonly send: SendBatch<Req, Res>,
    private readonly maxBatch = 256,
  ) {}

  call(req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    try {
      const results = await this.send(batch.map((p) => p.req));
      batch.forEach((p, i) => {
        const result = results[i];
        if (!result) p.reject(new KilnError(codeOf("INTERNAL"), "BATCH_SHORT", "the scheduler answered fewer requests than it was sent"));
        else if ("error" in result) p.reject(new KilnError(codeOf(result.error.code), result.error.reason, result.error.message));
        else p.resolve(result.response);
      });
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
    if (this.queue.length) setImmediate(() => void this.flush());
    else this.busy = false;
  }
}

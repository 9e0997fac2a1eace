import type { EventBus } from "@kiln/bus";
import { END_HEADER, SEQ_HEADER } from "@kiln/contracts";

/**
 * Publishes a job's result chunks in order. Chunk n of every attempt has the same
 * sequence number (and msg id), so readers and the bus drop a retried attempt's repeats.
 */
export class ResultPublisher {
  private seq = 0;

  constructor(
    private readonly bus: EventBus,
    private readonly subject: string,
    private readonly jobId: string,
  ) {}

  get count(): number {
    return this.seq;
  }

  async publish(arrowIpc: Uint8Array): Promise<void> {
    const seq = this.seq++;
    await this.bus.publish(this.subject, arrowIpc, { msgId: `${this.jobId}:${seq}`, headers: { [SEQ_HEADER]: String(seq) } });
  }

  /** The closing message: how many chunks there were. */
  async end(): Promise<void> {
    await this.bus.publish(this.subject, new Uint8Array(0), { msgId: `${this.jobId}:end`, headers: { [END_HEADER]: String(this.seq) } });
  }
}

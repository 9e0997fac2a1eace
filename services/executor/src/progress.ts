import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { JobProgressSchema, type ExecutorService, type JobProgress } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

/** Reports sent at most this often; the last one always goes out. */
const MIN_INTERVAL_MS = 250;

export type ProgressUpdate = Partial<Omit<JobProgress, "$typeName" | "$unknown">>;

/**
 * Sends a job's progress to the scheduler, throttled, and tells the job when the
 * scheduler answers "stop" (the job was cancelled or this attempt superseded).
 */
export class ProgressReporter {
  private current = create(JobProgressSchema);
  private lastSent = 0;
  private sending: Promise<void> | undefined;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly control: Client<typeof ExecutorService>,
    private readonly job: string,
    private readonly attempt: number,
    private readonly onStop: () => void,
    /** Sees every update (e.g. to track training epochs). */
    private readonly onUpdate?: (change: ProgressUpdate) => void,
  ) {}

  update(change: ProgressUpdate): void {
    this.onUpdate?.(change);
    Object.assign(this.current, change);
    if (this.current.rowsTotal > 0 && change.rowsDone !== undefined) {
      this.current.fraction = Math.min(1, Number(this.current.rowsDone) / Number(this.current.rowsTotal));
    }
    this.dirty = true;
    if (this.sending || this.timer) return;
    const wait = this.lastSent + MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) this.sending = this.send();
    else this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.dirty && !this.sending) this.sending = this.send();
    }, wait);
  }

  /** Sends what is pending now. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
    if (this.dirty) await this.send();
  }

  private async send(): Promise<void> {
    this.dirty = false;
    this.lastSent = Date.now();
    try {
      const res = await this.control.reportProgress({ name: this.job, attempt: this.attempt, progress: this.current });
      if (res.stop) this.onStop();
    } catch {
      // Progress is best effort; the heartbeat still carries cancellations.
    } finally {
      this.sending = undefined;
    }
  }
}

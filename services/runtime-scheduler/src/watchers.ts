import type { Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

type Listener = (job: Job) => void;

/** Everyone in this process waiting on a job's next change (WatchJob, ReadJobResults). */
export class JobWatchers {
  private readonly listeners = new Map<string, Set<Listener>>();

  notify(job: Job): void {
    for (const listener of this.listeners.get(job.name) ?? []) listener(job);
  }

  /** Calls `listener` on every change of the job until the returned function is called. */
  listen(name: string, listener: Listener): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(name);
    };
  }
}

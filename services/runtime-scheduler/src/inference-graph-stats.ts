import { Latencies } from "@kiln/core";

/** What one graph answered through this scheduler process since it started. */
export interface GraphCounts {
  requests: number;
  failures: number;
  /** SOFT steps that failed and were passed over in requests that were answered. */
  passedOver: number;
  latencies: Latencies;
}

/** At most this many graphs are counted; past it, the one counted first is dropped. */
const MAX_GRAPHS = 10_000;

/**
 * Per inference graph, the requests this scheduler answered, those that failed, and how
 * long they took: what it gives Prometheus (each scheduler its own, as scrapes sum them).
 */
export class GraphStats {
  private readonly graphs = new Map<string, GraphCounts>();

  record(graph: string, ms: number, outcome: { failed: boolean; passedOver: number }): void {
    let counts = this.graphs.get(graph);
    if (!counts) {
      if (this.graphs.size >= MAX_GRAPHS) this.graphs.delete(this.graphs.keys().next().value!);
      counts = { requests: 0, failures: 0, passedOver: 0, latencies: new Latencies() };
      this.graphs.set(graph, counts);
    }
    counts.requests++;
    if (outcome.failed) counts.failures++;
    counts.passedOver += outcome.passedOver;
    counts.latencies.add(ms);
  }

  forget(graph: string): void {
    this.graphs.delete(graph);
  }

  all(): [string, GraphCounts][] {
    return [...this.graphs];
  }
}

import type { HttpRoute } from "@kiln/core";
import { ServedState, type Executor } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { allDeployments, withStatus } from "./deployments.js";
import { aliveExecutors } from "./executors.js";
import type { Scheduler } from "./job-store.js";

type Labels = Record<string, string>;

/**
 * GET /metrics in Prometheus' text format, for the dashboards and alerts serving needs:
 * per deployment its replicas and those ready, and per deployment and executor what it
 * answered since it loaded the model (counters that restart with the executor, which
 * Prometheus' rate() takes as resets); executors alive and the jobs each runs.
 */
export function metricsRoute(s: Scheduler): HttpRoute {
  return {
    prefix: "/metrics",
    // Counters of every project's deployments: for a token that reaches them all (a scraper's, bearer_token_file).
    access: () => ({ role: "read", projects: ["-"] }),
    handle(rest, _req, res) {
      const reply = (status: number, type: string, text: string) => {
        res.writeHead(status, { "content-type": type });
        res.end(text);
      };
      if (rest !== "") return reply(404, "text/plain", "not found\n");
      void exposition(s).then(
        (text) => reply(200, "text/plain; version=0.0.4", text),
        (e: unknown) => {
          s.logger.error({ err: e }, "metrics could not be gathered");
          reply(503, "text/plain", "metrics unavailable\n");
        },
      );
    },
  };
}

async function exposition(s: Scheduler): Promise<string> {
  const [deployments, alive] = await Promise.all([allDeployments(s), aliveExecutors(s)]);
  const out = new Exposition();
  out.gauge("kiln_executors_alive", "Executors heard from within three heartbeats.", [[{}, alive.length]]);
  out.gauge("kiln_executor_running_jobs", "Jobs an executor runs now.", alive.map((e) => [{ executor: e.name }, e.runningJobs.length]));
  const status = deployments.map((d) => withStatus(d, alive));
  out.gauge("kiln_deployment_replicas", "Executors a deployment asks for.", status.map((d) => [{ deployment: d.name }, d.replicas]));
  out.gauge("kiln_deployment_ready_replicas", "Executors serving a deployment's model version now.", status.map((d) => [{ deployment: d.name }, d.readyReplicas]));
  const served = servedBy(alive);
  const counter = (name: string, help: string, pick: (stats: NonNullable<Served["stats"]>) => bigint) =>
    out.counter(name, help, served.map(({ labels, stats }) => [labels, Number(pick(stats))]));
  counter("kiln_deployment_requests_total", "Predictions an executor answered for a deployment since it loaded the model.", (x) => x.requests);
  counter("kiln_deployment_rows_total", "Rows an executor predicted for a deployment.", (x) => x.rows);
  counter("kiln_deployment_model_runs_total", "Model runs those rows took (fewer than requests when batched).", (x) => x.runs);
  counter("kiln_deployment_failures_total", "Predictions answered with an error.", (x) => x.failures);
  counter("kiln_deployment_logged_rows_total", "Rows an executor wrote to a deployment's request log.", (x) => x.loggedRows);
  counter("kiln_deployment_unlogged_rows_total", "Rows a deployment's request log dropped (the store refused them, or was away past the buffer).", (x) => x.unloggedRows);
  out.gauge(
    "kiln_deployment_latency_seconds",
    "How long an executor took to answer a prediction (batching wait and model run), over its last 1,000.",
    served.flatMap(({ labels, stats }) => [
      [{ ...labels, quantile: "0.5" }, stats.latencyP50Ms / 1000],
      [{ ...labels, quantile: "0.99" }, stats.latencyP99Ms / 1000],
    ]),
  );
  const graphs = s.graphStats.all();
  out.counter("kiln_inference_graph_requests_total", "Requests an inference graph answered through this scheduler since it started.", graphs.map(([graph, c]) => [{ inference_graph: graph }, c.requests]));
  out.counter("kiln_inference_graph_failures_total", "Of those, the ones that failed (a step's error, bad input, a timeout).", graphs.map(([graph, c]) => [{ inference_graph: graph }, c.failures]));
  out.counter(
    "kiln_inference_graph_steps_passed_over_total",
    "SOFT steps that failed and were passed over in requests the graph answered.",
    graphs.map(([graph, c]) => [{ inference_graph: graph }, c.passedOver]),
  );
  out.gauge(
    "kiln_inference_graph_latency_seconds",
    "How long this scheduler took to answer an inference graph's request (every step), over its last 1,000.",
    graphs.flatMap(([graph, c]) => [
      [{ inference_graph: graph, quantile: "0.5" }, c.latencies.quantile(0.5) / 1000],
      [{ inference_graph: graph, quantile: "0.99" }, c.latencies.quantile(0.99) / 1000],
    ]),
  );
  return out.text();
}

type Served = Executor["serving"][number];

/** Every (deployment, executor) an executor alive serves, with its counts. */
function servedBy(alive: Executor[]): { labels: Labels; stats: NonNullable<Served["stats"]> }[] {
  return alive.flatMap((e) =>
    e.serving.filter((x) => x.state === ServedState.READY && x.stats).map((x) => ({ labels: { deployment: x.deployment, executor: e.name }, stats: x.stats! })),
  );
}

class Exposition {
  private readonly lines: string[] = [];

  gauge(name: string, help: string, samples: [Labels, number][]): void {
    this.metric(name, "gauge", help, samples);
  }

  counter(name: string, help: string, samples: [Labels, number][]): void {
    this.metric(name, "counter", help, samples);
  }

  text(): string {
    return this.lines.join("\n") + "\n";
  }

  private metric(name: string, type: string, help: string, samples: [Labels, number][]): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${labelText(labels)} ${value}`);
  }
}

function labelText(labels: Labels): string {
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return "";
  return `{${pairs.map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { withToken } from "./with-token.js";
import type { TokenSource } from "./token-source.js";
import { fetchChunkFetcher, withLocalReads, type ChunkFetcher, type LocalChunkReader } from "./chunk-fetch.js";
import { Datasets } from "./datasets.js";
import { Models } from "./models.js";
import { Runtime } from "./runtime.js";
import { Deployments } from "./deployments.js";
import { DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { Tracking, type Experiment, type ExperimentOptions } from "./tracking.js";
import { TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { RuntimeService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { AuthService } from "@kiln/proto/kiln/auth/v1/auth_pb";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ScheduleService } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { Schedules } from "./schedules.js";
import { WebhookService } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import { Webhooks } from "./webhooks.js";
import { InferenceGraphService } from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { InferenceGraphs } from "./inference-graphs.js";
import { call } from "./errors.js";

export const DEFAULT_URL = "http://127.0.0.1:7070";

export interface ConnectOptions {
  /** Server URL; default KILN_URL, else http://127.0.0.1:7070. */
  url?: string;
  /**
   * A ready transport (connect-web in a browser, createRouterTransport in tests). Give
   * `url` too and bulk reads fetch chunks with plain GETs beside it.
   */
  transport?: Transport;
  /**
   * Reads chunks without the network where it can (a server's own blob stores, for the
   * executor embedded in it); chunks it answers undefined for are fetched over HTTP.
   */
  localChunks?: LocalChunkReader;
  /**
   * Reads tables' chunks fetched by reference into SharedArrayBuffers, so their batches can
   * go to worker threads without a copy (the embedded executor's model runs). Meant with
   * `localChunks`: chunks that come over HTTP are then copied once to be hashed, as
   * WebCrypto refuses shared memory.
   */
  sharedChunkMemory?: boolean;
  /**
   * Services that do not sit behind `url` (distributed mode without a proxy): each
   * defaults to KILN_STORE_URL, KILN_REGISTRY_URL, KILN_SCHEDULER_URL or KILN_TRACKING_URL
   * (the variables the services themselves use), else `url`. Node transport only.
   */
  services?: { store?: string; registry?: string; runtime?: string; tracking?: string };
  /**
   * The bearer token sent with every call, for servers that check them, or a function
   * giving the current one (a login that renews itself). Default: KILN_TOKEN, else (Node)
   * the login `kiln login` stored. With a given transport it is added to that transport's
   * calls too.
   */
  token?: TokenSource;
  /** Project for short names; default "default". */
  project?: string;
  /**
   * How writes travel: "stream" (one client-streaming call; needs HTTP/2) or
   * "resumable" (unary begin/append/commit calls, retried; works from browsers).
   * Default: "stream" for the Node transport, "resumable" for a given transport.
   */
  writeMode?: "stream" | "resumable";
}

/**
 * The login `kiln login` stored, as a token source that renews it; undefined without one,
 * or with a file that is not one (a server that checks tokens then says a token is
 * needed, and `kiln login` writes it anew). Node only.
 */
async function storedLogin(): Promise<TokenSource | undefined> {
  const { readCredentials, storedLoginToken } = await import("./stored-login.js");
  const stored = await readCredentials().catch(() => undefined);
  const usable = stored && typeof stored.token === "string" && typeof stored.expiresAt === "number" && typeof stored.tokenEndpoint === "string";
  return usable ? storedLoginToken(stored) : undefined;
}

/** The Kiln client: `const kiln = await Kiln.connect()`, then `kiln.datasets.put(...)`, `kiln.models.put(...)`. */
export class Kiln {
  readonly datasets: Datasets;
  readonly models: Models;
  readonly runtime: Runtime;
  /** Jobs on a schedule: `kiln.schedules.create("nightly", { cron: "0 2 * * *", job: { kind: "fit", … } })`. */
  readonly schedules: Schedules;
  /** Events POSTed to a URL: `kiln.webhooks.create("alerts", { url, events: ["job.failed"] })`. */
  readonly webhooks: Webhooks;
  /** Online serving: models kept loaded on executors, answering predictions in milliseconds. */
  readonly deployments: Deployments;
  /** Deployments chained, routed, ensembled or split behind one name (KServe's InferenceGraph). */
  readonly inferenceGraphs: InferenceGraphs;
  /** List and drop experiments; `kiln.experiment(name)` opens one. */
  readonly experiments: Tracking;

  private constructor(
    readonly transport: Transport,
    readonly project: string,
    writeMode: "stream" | "resumable",
    private readonly chunks: ChunkFetcher | undefined,
    services: Partial<Record<"store" | "registry" | "runtime" | "tracking", { transport: Transport; chunks?: ChunkFetcher }>> = {},
    sharedChunkMemory = false,
    /** The server's URL, when known (always with the Node transport). */
    readonly url?: string,
  ) {
    const store: Client<typeof StoreService> = createClient(StoreService, services.store?.transport ?? transport);
    this.datasets = new Datasets(store, project, writeMode, services.store?.chunks ?? chunks, sharedChunkMemory);
    this.runtime = new Runtime(createClient(RuntimeService, services.runtime?.transport ?? transport), project, this.datasets);
    this.models = new Models(createClient(RegistryService, services.registry?.transport ?? transport), project, services.registry?.chunks ?? chunks, writeMode === "stream", {
      datasets: this.datasets,
      runtime: this.runtime,
    });
    this.deployments = new Deployments(createClient(DeploymentService, services.runtime?.transport ?? transport), project, this.models);
    this.inferenceGraphs = new InferenceGraphs(createClient(InferenceGraphService, services.runtime?.transport ?? transport), project);
    this.schedules = new Schedules(createClient(ScheduleService, services.runtime?.transport ?? transport), project, this.runtime);
    this.webhooks = new Webhooks(createClient(WebhookService, services.runtime?.transport ?? transport), project);
    this.experiments = new Tracking(createClient(TrackingService, services.tracking?.transport ?? transport), project, services.tracking?.chunks ?? chunks, writeMode === "stream");
    this.ownFetchers = Object.values(services).flatMap((s) => (s.chunks ? [s.chunks] : []));
  }

  private readonly ownFetchers: ChunkFetcher[];

  /** omega-ml's `om.runtime.experiment(name)`: `await kiln.experiment("e").run(async (exp) => exp.logMetric("acc", 0.9))`. */
  experiment(name: string, options: ExperimentOptions = {}): Experiment {
    return this.experiments.experiment(name, options);
  }

  /** The caller as the server sees it: `{ tokensChecked: false }` from a server that checks no tokens. */
  async whoami(): Promise<{ tokensChecked: boolean; subject: string; role: string; projects: string[]; expireTime?: Date; issuer: string }> {
    const res = await call(() => createClient(AuthService, this.transport).whoAmI({}));
    return { tokensChecked: res.tokensChecked, subject: res.subject, role: res.role, projects: res.projects, expireTime: res.expireTime && timestampDate(res.expireTime), issuer: res.issuer };
  }

  /** Lets go of connections (they never keep the process alive anyway). */
  close(): void {
    this.chunks?.close();
    for (const fetcher of this.ownFetchers) fetcher.close();
  }

  static async connect(urlOrOptions?: string | ConnectOptions): Promise<Kiln> {
    const options = typeof urlOrOptions === "string" ? { url: urlOrOptions } : (urlOrOptions ?? {});
    const project = options.project ?? "default";
    const env = typeof process !== "undefined" ? process.env : {};
    const givenToken = options.token ?? (env.KILN_TOKEN || undefined);
    if (options.transport) {
      const token = givenToken;
      const chunks = options.url ? withLocalReads(fetchChunkFetcher(options.url, token), options.localChunks) : undefined;
      return new Kiln(withToken(options.transport, token), project, options.writeMode ?? "resumable", chunks, {}, options.sharedChunkMemory, options.url);
    }
    const baseUrl = options.url ?? env.KILN_URL ?? DEFAULT_URL;
    const token = givenToken ?? (await storedLogin());
    // Loaded lazily so that browsers, which pass their own transport, never load Node modules.
    const nodeGrpc = await (await import("./node-grpc.js")).nodeGrpcTransports();
    const grpc = (url: string) => withToken(nodeGrpc(url), token);
    const { http2ChunkFetcher } = await import("./http2-chunk-fetcher.js");
    const chunksFrom = (url: string) => withLocalReads(http2ChunkFetcher(url, token), options.localChunks);
    const services: Partial<Record<"store" | "registry" | "runtime" | "tracking", { transport: Transport; chunks?: ChunkFetcher }>> = {};
    const given = options.services ?? { store: env.KILN_STORE_URL, registry: env.KILN_REGISTRY_URL, runtime: env.KILN_SCHEDULER_URL, tracking: env.KILN_TRACKING_URL };
    for (const [service, url] of Object.entries(given) as ["store" | "registry" | "runtime" | "tracking", string | undefined][]) {
      if (url && url !== baseUrl) services[service] = { transport: grpc(url), chunks: service === "runtime" ? undefined : chunksFrom(url) };
    }
    return new Kiln(grpc(baseUrl), project, options.writeMode ?? "stream", chunksFrom(baseUrl), services, options.sharedChunkMemory, baseUrl);
  }
}

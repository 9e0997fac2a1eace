import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { fetchChunkFetcher, type ChunkFetcher } from "./chunk-fetch.js";
import { Datasets } from "./datasets.js";
import { Models } from "./models.js";
import { Runtime } from "./runtime.js";
import { RuntimeService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

export const DEFAULT_URL = "http://127.0.0.1:7070";

export interface ConnectOptions {
  /** Server URL; default KILN_URL, else http://127.0.0.1:7070. */
  url?: string;
  /**
   * A ready transport (connect-web in a browser, createRouterTransport in tests). Give
   * `url` too and bulk reads fetch chunks with plain GETs beside it.
   */
  transport?: Transport;
  /** Project for short names; default "default". */
  project?: string;
  /**
   * How writes travel: "stream" (one client-streaming call; needs HTTP/2) or
   * "resumable" (unary begin/append/commit calls, retried; works from browsers).
   * Default: "stream" for the Node transport, "resumable" for a given transport.
   */
  writeMode?: "stream" | "resumable";
}

/** The Kiln client: `const kiln = await Kiln.connect()`, then `kiln.datasets.put(...)`, `kiln.models.put(...)`. */
export class Kiln {
  readonly datasets: Datasets;
  readonly models: Models;
  readonly runtime: Runtime;

  private constructor(
    readonly transport: Transport,
    readonly project: string,
    writeMode: "stream" | "resumable",
    private readonly chunks: ChunkFetcher | undefined,
  ) {
    const store: Client<typeof StoreService> = createClient(StoreService, transport);
    this.datasets = new Datasets(store, project, writeMode, chunks);
    this.models = new Models(createClient(RegistryService, transport), project, chunks);
    this.runtime = new Runtime(createClient(RuntimeService, transport), project, this.datasets);
  }

  /** Lets go of connections (they never keep the process alive anyway). */
  close(): void {
    this.chunks?.close();
  }

  static async connect(urlOrOptions?: string | ConnectOptions): Promise<Kiln> {
    const options = typeof urlOrOptions === "string" ? { url: urlOrOptions } : (urlOrOptions ?? {});
    const project = options.project ?? "default";
    if (options.transport) {
      const chunks = options.url ? fetchChunkFetcher(options.url) : undefined;
      return new Kiln(options.transport, project, options.writeMode ?? "resumable", chunks);
    }
    const env = typeof process !== "undefined" ? process.env : {};
    const baseUrl = options.url ?? env.KILN_URL ?? DEFAULT_URL;
    // Loaded lazily so that browsers, which pass their own transport, never load Node modules.
    const { createGrpcTransport } = await import("@connectrpc/connect-node");
    const { http2ChunkFetcher } = await import("./http2-chunk-fetcher.js");
    const transport = createGrpcTransport({ baseUrl, readMaxBytes: 256 * 1024 ** 2, writeMaxBytes: 256 * 1024 ** 2 });
    return new Kiln(transport, project, options.writeMode ?? "stream", http2ChunkFetcher(baseUrl));
  }
}

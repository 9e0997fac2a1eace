import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { Datasets } from "./datasets.js";

export const DEFAULT_URL = "http://127.0.0.1:7070";

export interface ConnectOptions {
  /** Server URL; default KILN_URL, else http://127.0.0.1:7070. */
  url?: string;
  /** A ready transport (connect-web in a browser, createRouterTransport in tests). */
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

/** The Kiln client: `const kiln = await Kiln.connect()`, then `kiln.datasets.put(...)`. */
export class Kiln {
  readonly datasets: Datasets;

  private constructor(
    readonly transport: Transport,
    readonly project: string,
    writeMode: "stream" | "resumable",
  ) {
    const store: Client<typeof StoreService> = createClient(StoreService, transport);
    this.datasets = new Datasets(store, project, writeMode);
  }

  static async connect(urlOrOptions?: string | ConnectOptions): Promise<Kiln> {
    const options = typeof urlOrOptions === "string" ? { url: urlOrOptions } : (urlOrOptions ?? {});
    const project = options.project ?? "default";
    if (options.transport) return new Kiln(options.transport, project, options.writeMode ?? "resumable");
    const env = typeof process !== "undefined" ? process.env : {};
    const baseUrl = options.url ?? env.KILN_URL ?? DEFAULT_URL;
    // Loaded lazily so that browsers, which pass their own transport, never load Node modules.
    const { createGrpcTransport } = await import("@connectrpc/connect-node");
    const transport = createGrpcTransport({ baseUrl, readMaxBytes: 256 * 1024 ** 2, writeMaxBytes: 256 * 1024 ** 2 });
    return new Kiln(transport, project, options.writeMode ?? "stream");
  }
}

import type http2 from "node:http2";
import type { Transport } from "@connectrpc/connect";
import type { Http2SessionManager as SessionManager } from "@connectrpc/connect-node";

/**
 * Flow-control windows of the SDK's HTTP/2 sessions. Node's defaults (64 KiB a stream and
 * a connection) let a server stream's 256 KiB message through only after several window
 * updates from the client, each answered between the server's other work: a million-row
 * predict's results reached the client only once the job was done.
 */
export const STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;
/** Node's cap on what a session may hold (MB), raised to fit the windows. */
export const MAX_SESSION_MEMORY_MB = 256;
const MAX_MESSAGE_BYTES = 256 * 1024 ** 2;

/**
 * gRPC over HTTP/2 with the wide windows, for Node. connect-node loads here, not at the top
 * of the module: a browser bundle of the SDK must not import it.
 */
export async function nodeGrpcTransports(): Promise<(baseUrl: string) => Transport> {
  const { createGrpcTransport, Http2SessionManager } = await import("@connectrpc/connect-node");

  /** Widens each new connection's window (http2.connect's settings only set the streams'). */
  class WideWindowSessions extends Http2SessionManager {
    private readonly widened = new WeakSet<http2.Http2Session>();

    override async request(...args: Parameters<SessionManager["request"]>): Promise<http2.ClientHttp2Stream> {
      const stream = await super.request(...args);
      const session = stream.session;
      if (session && !this.widened.has(session)) {
        this.widened.add(session);
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      }
      return stream;
    }
  }

  return (baseUrl) => {
    const sessions = new WideWindowSessions(baseUrl, {}, { maxSessionMemory: MAX_SESSION_MEMORY_MB, settings: { initialWindowSize: STREAM_WINDOW_BYTES } });
    return createGrpcTransport({ baseUrl, readMaxBytes: MAX_MESSAGE_BYTES, writeMaxBytes: MAX_MESSAGE_BYTES, sessionManager: sessions });
  };
}

import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** When its body had come (Date.now()). */
  at: number;
}

export interface HttpReceiver {
  /** Its URL, path /hook, on 127.0.0.1 and a free port. */
  url: string;
  /** What it was sent, in order. */
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A real HTTP server that records every request and answers with `status()` (a body of
 * "not today" for an error): what webhooks are delivered to in tests. `answerAfterMs()`
 * holds each answer back that long once the body has come (a receiver slow to answer).
 */
export async function startHttpReceiver(status: () => number = () => 204, answerAfterMs: () => number = () => 0): Promise<HttpReceiver> {
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ method: req.method ?? "", headers: req.headers, body, at: Date.now() });
      const code = status();
      const answer = () => res.writeHead(code).end(code >= 300 ? "not today" : "");
      const delay = answerAfterMs();
      if (delay > 0) setTimeout(answer, delay).unref();
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // kept-alive ones too: nothing reaches it after
      }),
  };
}

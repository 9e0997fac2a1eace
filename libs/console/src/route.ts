import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { HttpResponse, HttpRoute } from "@kiln/core";

/** The console's files (built into dist/ui) and their media types: nothing else is given out. */
const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

const UI_DIR = fileURLToPath(new URL("./ui/", import.meta.url));

/**
 * The web console at /ui/: a page that reads datasets, models, jobs, deployments and
 * experiments through the same API as any client (with the token the user gives it), so
 * its files are open to all and hold no data. Scripts and calls only from this origin.
 */
export function consoleRoute(): HttpRoute {
  const cache = new Map<string, Promise<Buffer>>();
  return {
    prefix: "/ui/",
    access: () => ({ role: "open" }),
    handle(rest, req, res) {
      const name = rest === "" ? "index.html" : rest;
      const type = FILES[name];
      if (!type) return plain(res, 404, "not found\n");
      let bytes = cache.get(name);
      if (!bytes) cache.set(name, (bytes = readFile(`${UI_DIR}${name}`)));
      bytes.then(
        (body) => {
          res.writeHead(200, {
            "content-type": type,
            "content-length": body.length,
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
          });
          if (req.method === "HEAD") res.end();
          else res.end(body);
        },
        () => {
          cache.delete(name);
          plain(res, 503, "the console is not built (npm run build)\n");
        },
      );
    },
  };
}

function plain(res: HttpResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(text);
}

import { join } from "node:path";

/** The repository root: the Kiln image's working directory (deploy/Dockerfile's WORKDIR). */
export const REPO = join(import.meta.dirname, "../..");
export const DEPLOY = join(REPO, "deploy");

/** A Kiln service as a compose service or a Kubernetes Deployment runs it. */
export interface KilnProcess {
  name: string;
  /** Its entry point, relative to the image's working directory. */
  script: string;
  env: Record<string, string>;
  replicas: number;
  /** "host:port" addresses the others reach it by; none for executors, which serve no port. */
  addresses: string[];
  /** The port it listens on in its container (KILN_PORT), if it serves one. */
  port?: number;
}

/** The path-routing proxy: Caddy with deploy/proxy/Caddyfile. */
export interface ProxyProcess {
  /** The Caddyfile the container reads, as a path on this machine. */
  caddyfile: string;
  env: Record<string, string>;
  addresses: string[];
}

/** What a compose file or a set of manifests runs, for the stack harness to start as local processes. */
export interface StackPlan {
  /** In the order they start: the ones others wait for first. */
  kiln: KilnProcess[];
  proxy: ProxyProcess;
  /** Addresses of the NATS server. */
  nats: string[];
}

/** The service entry points the image has, by the folder under services/. */
export const ENTRY_POINT = /^services\/([a-z-]+)\/dist\/main\.js$/;

/** `node services/x/dist/main.js` → the script; anything else is not a Kiln service's command. */
export function scriptOf(command: readonly string[], what: string): string {
  if (command.length !== 2 || command[0] !== "node" || !ENTRY_POINT.test(command[1]!)) {
    throw new Error(`${what}: command ${JSON.stringify(command)} is not "node services/<name>/dist/main.js"`);
  }
  return command[1]!;
}

/** Every Kiln service listens on KILN_PORT but executors, which pull their work from NATS. */
export function servesPort(script: string): boolean {
  return !script.startsWith("services/executor/");
}

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { scriptOf, servesPort, type KilnProcess, type StackPlan } from "./plan.js";

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: string[] | Record<string, { condition: string }>;
  volumes?: string[];
  deploy?: { replicas?: number };
  healthcheck?: unknown;
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
}

export function readCompose(path: string): ComposeFile {
  return parse(readFileSync(path, "utf8"), { merge: true }) as ComposeFile;
}

/** `${NAME:-default}` and `${NAME:?why}` as compose fills them in from the environment it runs in (the latter refusing to start without it). */
export function interpolate(value: string, env: Record<string, string | undefined> = {}): string {
  return value
    .replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind: string | undefined, text = "") => {
      if (env[name]) return env[name]!;
      if (kind === "?") throw new Error(`compose: ${name}: ${text}`);
      return kind === "-" ? text : "";
    })
    .replace(/\$\$/g, "$");
}

export function dependencies(service: ComposeService): string[] {
  const d = service.depends_on ?? [];
  return Array.isArray(d) ? d : Object.keys(d);
}

/** Services in an order where each comes after those it depends on. */
export function startOrder(file: ComposeFile): string[] {
  const order: string[] = [];
  const visit = (name: string, path: string[]) => {
    if (order.includes(name)) return;
    if (path.includes(name)) throw new Error(`compose: depends_on cycle ${[...path, name].join(" → ")}`);
    const service = file.services[name];
    if (!service) throw new Error(`compose: ${path.at(-1)} depends on ${name}, which is no service`);
    for (const d of dependencies(service)) visit(d, [...path, name]);
    order.push(name);
  };
  for (const name of Object.keys(file.services)) visit(name, []);
  return order;
}

/** The Kiln services of a compose file (those on the Kiln image), the proxy and NATS; `${…}` filled from `env`, as compose does from its shell. */
export function composePlan(path: string, env: Record<string, string> = {}): StackPlan {
  const file = readCompose(path);
  const kiln: KilnProcess[] = [];
  for (const name of startOrder(file)) {
    const service = file.services[name]!;
    if (service.image !== "kiln:latest") continue;
    const given = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ""), env)]));
    const script = scriptOf(service.command ?? [], `compose service ${name}`);
    const port = servesPort(script) ? Number(given.KILN_PORT ?? 7070) : undefined;
    kiln.push({ name, script, env: given, replicas: service.deploy?.replicas ?? 1, addresses: port === undefined ? [] : [`${name}:${port}`], port });
  }
  const proxy = file.services.proxy;
  if (!proxy) throw new Error("compose: no proxy service");
  const mount = (proxy.volumes ?? []).map((v) => v.split(":")).find(([, target]) => target === "/etc/caddy/Caddyfile");
  if (!mount) throw new Error("compose: the proxy mounts no Caddyfile at /etc/caddy/Caddyfile");
  const proxyPort = Number(interpolate(String(proxy.environment?.KILN_PROXY_PORT ?? "8080"), env));
  return {
    kiln,
    proxy: { caddyfile: resolve(dirname(path), mount[0]!), env: {}, addresses: [`proxy:${proxyPort}`] },
    nats: file.services.nats ? ["nats:4222"] : [],
  };
}

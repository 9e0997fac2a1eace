import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startNatsServer, type NatsServer } from "@kiln/bus/testing";
import { EVERY_PROJECT, mintToken } from "@kiln/core";
import { startNodeService, type ServiceProcess } from "@kiln/core/testing";
import { startS3rver, type TestS3Server } from "@kiln/storage/testing";
import { Addresses } from "./addresses.js";
import { startCaddy, type Caddy } from "./caddy.js";
import { POD_NAME } from "./kubernetes-plan.js";
import { REPO, type KilnProcess, type StackPlan } from "./plan.js";

export interface Stack {
  /** The proxy: the one origin clients use. */
  url: string;
  /** An admin's token for every project, signed with the secret the services are given (as an operator mints one with kiln tokens:create). */
  token: string;
  stop(): Promise<void>;
}

/**
 * Runs what a compose file or Kubernetes manifests describe as processes on this machine
 * (no container engine here): each Kiln service with the environment the file gives it, a
 * real nats-server, s3rver for the bucket, Caddy with the proxy's Caddyfile. The files' host
 * names become local ports; what cannot run here is replaced and said: the listen address
 * (loopback), KILN_PORT, KILN_DATA_DIR (a temp folder), MongoDB (each service's SQLite,
 * unless KILN_TEST_MONGODB_URI names a server) and the S3 endpoint and keys (s3rver's).
 */
export async function startStack(plan: StackPlan): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-stack-"));
  const addresses = new Addresses();
  const processes = new Map<string, ServiceProcess[]>();
  const run = `r${process.pid}${Date.now() % 100_000}`;
  let nats: NatsServer | undefined;
  let s3: TestS3Server | undefined;
  let caddy: Caddy | undefined;
  const stop = async () => {
    await caddy?.stop();
    // Executors first, then the services in the reverse of their start.
    for (const p of [...processes.values()].reverse().flat()) await p.stop();
    await s3?.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    nats = await startNatsServer({ storeDir: join(dir, "nats") });
    for (const a of plan.nats) addresses.set(a, nats.port);
    const bucket = plan.kiln.find((p) => p.env.KILN_BLOBS === "s3")?.env.KILN_S3_BUCKET;
    if (bucket) s3 = await startS3rver(bucket);
    const ports = new Map<KilnProcess, number>();
    for (const p of plan.kiln) {
      if (p.port === undefined) continue;
      if (p.replicas !== 1) throw new Error(`${p.name}: the harness runs one replica of a service that listens, not ${p.replicas}`);
      if (p.addresses.length === 0) throw new Error(`${p.name}: listens on ${p.port}, but no address reaches it`);
      const port = await freePort("127.0.0.1");
      ports.set(p, port);
      for (const a of p.addresses) addresses.set(a, port);
    }
    const proxyPort = await freePort("127.0.0.1");
    for (const a of plan.proxy.addresses) addresses.set(a, proxyPort);

    for (const p of plan.kiln) {
      const started: ServiceProcess[] = [];
      processes.set(p.name, started);
      for (let i = 0; i < p.replicas; i++) {
        const local = localEnv(p.env, { pod: `${p.name}-${i}`, port: ports.get(p), dataDir: join(dir, `${p.name}-${i}`), s3, run });
        const env = Object.fromEntries(Object.entries(local).map(([k, v]) => [k, addresses.rewrite(v, `${p.name} ${k}`)]));
        started.push(await startNodeService(join(REPO, p.script), env));
      }
    }
    caddy = await startCaddy(plan.proxy.caddyfile, plan.proxy.env, proxyPort, addresses, join(dir, "caddy"));
    return { url: caddy.url, token: operatorToken(plan), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function operatorToken(plan: StackPlan): string {
  const secrets = new Set(plan.kiln.map((p) => p.env.KILN_AUTH_SECRETS));
  const [secret] = [...secrets][0]?.split(",") ?? [];
  if (secrets.size !== 1 || !secret) throw new Error("every Kiln service must be given the same KILN_AUTH_SECRETS");
  return mintToken(secret, { subject: "operator", role: "admin", projects: [EVERY_PROJECT] });
}

interface Local {
  pod: string;
  port?: number;
  dataDir: string;
  s3?: TestS3Server;
  run: string;
}

/** A process's environment with what cannot run on this machine as it is replaced (see startStack). */
function localEnv(given: Record<string, string>, local: Local): Record<string, string> {
  const env = Object.fromEntries(Object.entries(given).map(([k, v]) => [k, v.replaceAll(POD_NAME, local.pod)]));
  env.KILN_HOST = "127.0.0.1";
  env.KILN_DATA_DIR = local.dataDir;
  if (local.port !== undefined) env.KILN_PORT = String(local.port);
  if (env.KILN_METADATA === "mongodb") {
    const uri = process.env.KILN_TEST_MONGODB_URI;
    if (uri) {
      env.KILN_MONGODB_URI = uri;
      env.KILN_MONGODB_DATABASE = `${env.KILN_MONGODB_DATABASE ?? "kiln"}_${local.run}`;
    } else {
      env.KILN_METADATA = "sqlite";
      delete env.KILN_MONGODB_URI;
      delete env.KILN_MONGODB_DATABASE;
    }
  }
  if (env.KILN_BLOBS === "s3" && local.s3) {
    const { endpoint, accessKeyId, secretAccessKey } = local.s3.options();
    Object.assign(env, { KILN_S3_ENDPOINT: endpoint, KILN_S3_ACCESS_KEY_ID: accessKeyId!, KILN_S3_SECRET_ACCESS_KEY: secretAccessKey! });
  }
  return env;
}

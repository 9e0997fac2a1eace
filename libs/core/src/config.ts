import { MIN_SECRET_LENGTH } from "./auth/token.js";

/**
 * All configuration comes from KILN_* environment variables, read once at start by
 * one pure function. Defaults give embedded mode; a bad value stops start-up with a
 * ConfigError naming the variable.
 */
export interface S3Config {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
  /** Browser origins allowed to call Kiln (CORS). */
  corsOrigins: string[];
  /** Secrets whose tokens are accepted (the first one signs new tokens); empty: no token checks. */
  authSecrets: string[];
  /** Ids (jti) of tokens refused although their secret is still in use: leaked or retired ones. */
  revokedTokens: string[];
  /** An OpenID Connect provider whose tokens are taken too (KILN_AUTH_ISSUER). */
  identityProvider?: IdentityProviderConfig;
  /** How far V8 lets the heap grow after a full collection, in percent of what survived it (0: V8 decides). */
  heapGrowingPercent: number;
  metadata: { backend: "sqlite" } | { backend: "mongodb"; uri: string; database: string };
  blobs: { backend: "fs" } | { backend: "s3"; s3: S3Config };
  /** eventsTtlMs: how long event streams (job transitions, dataset and model changes) keep their messages. */
  bus: ({ backend: "memory" } | { backend: "nats"; servers: string[] }) & { eventsTtlMs: number };
  limits: {
    /** Largest single RPC message, in bytes. */
    maxMessageBytes: number;
    /** Largest dataset version, in bytes. */
    maxDatasetBytes: number;
    /** Largest JSON document, in bytes. */
    maxDocumentBytes: number;
    /** Largest model file or attachment, in bytes. */
    maxModelBytes: number;
    /** Largest user metadata object on a model version (as JSON), in bytes. */
    maxMetadataBytes: number;
  };
  runtime: RuntimeConfig;
}

export interface IdentityProviderConfig {
  issuer: string;
  /** Its JSON Web Key Set; default: the jwks_uri its discovery document names. */
  jwksUrl?: string;
  audience?: string;
  roleClaim: string;
  projectsClaim: string;
}

export interface RuntimeConfig {
  /** Where a service that runs on its own finds the others: KILN_URL (the proxy in front of them all). */
  url: string;
  storeUrl: string;
  registryUrl: string;
  schedulerUrl: string;
  /** The token this process shows the other services (KILN_TOKEN), when they check tokens. */
  token?: string;
  /** A job's message comes back to the queue when unacknowledged this long (an executor died). */
  jobAckWaitMs: number;
  heartbeatMs: number;
  /** How long job results stay readable. */
  resultsTtlMs: number;
  /** A temporary job input older than this that no job still to end claims is dropped. */
  temporaryTtlMs: number;
  /** Jobs that ended longer ago than this are deleted; 0 keeps them. */
  jobRetentionMs: number;
  /** How long an online Predict waits for a deployment's executor to answer. */
  predictTimeoutMs: number;
  /** Where webhooks may POST: "any" (all but link-local, unspecified and multicast addresses) or "public" (not loopback or private ones either). */
  webhookNetworks: "any" | "public";
  executor: {
    /** "" picks host-pid. */
    id: string;
    labels: string[];
    slots: number;
    /** Bytes of model files kept in memory, by content hash. */
    modelCacheBytes: number;
    /** Embedded mode runs one executor in the process. */
    embedded: boolean;
    /**
     * An executor process reads chunks straight from the services' blob stores (the
     * KILN_DATA_DIR or S3 bucket it is configured with, as they are), not over HTTP; a
     * chunk it cannot read there is fetched over HTTP as usual.
     */
    directBlobs: boolean;
    /** How often a deployment's logged requests are written to their dataset. */
    requestLogFlushMs: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/**
 * The runtime scheduler and executors, each in a process of its own, meet on NATS: with the
 * in-process bus an executor would heartbeat and be listed but never get a job.
 */
export function requireSharedBus(config: Config, processName: string): void {
  if (config.bus.backend === "nats") return;
  throw new ConfigError("KILN_BUS", `"memory" is this process's own: ${processName} on its own meets the others on NATS; set KILN_BUS=nats and KILN_NATS_URL (or run everything in one process with npm start)`);
}

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === "" ? fallback : v;
}

function required(env: Env, name: string, why: string): string {
  const v = env[name];
  if (!v) throw new ConfigError(name, `required ${why}`);
  return v;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const v = str(env, name, fallback);
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(name, `must be one of ${allowed.join(", ")}, got "${v}"`);
  }
  return v as T;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = parseSize(raw);
  if (v === undefined || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return v;
}

/** "512", "16MiB", "1GB", "64k" → bytes (k/M/G are binary: these are memory limits). */
function parseSize(raw: string): number | undefined {
  const m = /^\s*(\d+)\s*([kmg]i?b?)?\s*$/i.exec(raw);
  if (!m) return undefined;
  const unit = (m[2] ?? "").toLowerCase()[0];
  const factor = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Number(m[1]) * factor;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

/** "https://a.example,http://localhost:5173" or "*". */
function origins(env: Env, name: string): string[] {
  const list = str(env, name, "").split(",").map((o) => o.trim()).filter(Boolean);
  for (const o of list) {
    if (o !== "*" && !/^https?:\/\/[^/\s]+$/.test(o)) throw new ConfigError(name, `"${o}" is not an origin like https://app.example.com (or *)`);
  }
  return list;
}

/** Comma-separated secrets, each long enough to sign with. */
function secrets(env: Env, name: string): string[] {
  const list = str(env, name, "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const [i, secret] of list.entries()) {
    if (secret.length < MIN_SECRET_LENGTH) throw new ConfigError(name, `secret ${i + 1} has ${secret.length} characters; each needs at least ${MIN_SECRET_LENGTH} (e.g. openssl rand -hex 32)`);
  }
  return list;
}

/** KILN_AUTH_ISSUER and the variables that go with it, all or nothing. */
function identityProvider(env: Env): { identityProvider?: IdentityProviderConfig } {
  const issuer = str(env, "KILN_AUTH_ISSUER", "");
  const related = ["KILN_AUTH_JWKS_URL", "KILN_AUTH_AUDIENCE", "KILN_AUTH_ROLE_CLAIM", "KILN_AUTH_PROJECTS_CLAIM"].filter((name) => env[name]);
  if (!issuer) {
    if (related.length > 0) throw new ConfigError(related[0]!, "needs KILN_AUTH_ISSUER, the identity provider whose tokens it is about");
    return {};
  }
  if (!/^https?:\/\/\S+$/.test(issuer)) throw new ConfigError("KILN_AUTH_ISSUER", `must be the provider's issuer URL (its tokens' iss), got "${issuer}"`);
  const jwksUrl = str(env, "KILN_AUTH_JWKS_URL", "");
  if (jwksUrl && !/^https?:\/\/\S+$/.test(jwksUrl)) throw new ConfigError("KILN_AUTH_JWKS_URL", `must be an http(s) URL, got "${jwksUrl}"`);
  return {
    identityProvider: {
      issuer,
      ...(jwksUrl && { jwksUrl }),
      ...(env.KILN_AUTH_AUDIENCE && { audience: env.KILN_AUTH_AUDIENCE }),
      roleClaim: str(env, "KILN_AUTH_ROLE_CLAIM", "kiln_role"),
      projectsClaim: str(env, "KILN_AUTH_PROJECTS_CLAIM", "kiln_projects"),
    },
  };
}

export function loadConfig(env: Env = process.env): Config {
  const metadataBackend = oneOf(env, "KILN_METADATA", ["sqlite", "mongodb"] as const, "sqlite");
  const blobBackend = oneOf(env, "KILN_BLOBS", ["fs", "s3"] as const, "fs");
  const busBackend = oneOf(env, "KILN_BUS", ["memory", "nats"] as const, "memory");
  const host = str(env, "KILN_HOST", "127.0.0.1");
  return {
    host,
    port: int(env, "KILN_PORT", 7070, 0, 65535),
    dataDir: str(env, "KILN_DATA_DIR", ".kiln"),
    corsOrigins: origins(env, "KILN_CORS_ORIGINS"),
    authSecrets: secrets(env, "KILN_AUTH_SECRETS"),
    revokedTokens: str(env, "KILN_AUTH_REVOKED_TOKENS", "").split(",").map((id) => id.trim()).filter(Boolean),
    ...identityProvider(env),
    heapGrowingPercent: int(env, "KILN_HEAP_GROWING_PERCENT", 200, 0, 1000),
    logLevel: oneOf(env, "KILN_LOG_LEVEL", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const, "info"),
    metadata:
      metadataBackend === "sqlite"
        ? { backend: "sqlite" }
        : {
            backend: "mongodb",
            uri: required(env, "KILN_MONGODB_URI", "when KILN_METADATA=mongodb"),
            database: str(env, "KILN_MONGODB_DATABASE", "kiln"),
          },
    blobs:
      blobBackend === "fs"
        ? { backend: "fs" }
        : {
            backend: "s3",
            s3: {
              bucket: required(env, "KILN_S3_BUCKET", "when KILN_BLOBS=s3"),
              prefix: str(env, "KILN_S3_PREFIX", ""),
              endpoint: env.KILN_S3_ENDPOINT || undefined,
              region: str(env, "KILN_S3_REGION", "us-east-1"),
              accessKeyId: env.KILN_S3_ACCESS_KEY_ID || undefined,
              secretAccessKey: env.KILN_S3_SECRET_ACCESS_KEY || undefined,
              forcePathStyle: bool(env, "KILN_S3_FORCE_PATH_STYLE", true),
            },
          },
    bus: {
      ...(busBackend === "memory" ? { backend: "memory" as const } : { backend: "nats" as const, servers: required(env, "KILN_NATS_URL", "when KILN_BUS=nats").split(",") }),
      // Nothing outside the process can read the in-process bus, so its events need not wait long for readers.
      eventsTtlMs: int(env, "KILN_EVENTS_TTL_MS", busBackend === "memory" ? 10_000 : 86_400_000, 1_000, 365 * 86_400_000),
    },
    limits: {
      // At least 8 MiB: the SDK sends data in 4 MiB chunks (CHUNK_BYTES), inline or by PUT, and a
      // lower limit failed every bigger write half-way rather than at start.
      maxMessageBytes: int(env, "KILN_MAX_MESSAGE_BYTES", 16 * 1024 ** 2, 8 * 1024 ** 2, 1024 ** 3),
      maxDatasetBytes: int(env, "KILN_MAX_DATASET_BYTES", 64 * 1024 ** 3, 1024, Number.MAX_SAFE_INTEGER),
      maxDocumentBytes: int(env, "KILN_MAX_DOCUMENT_BYTES", 16 * 1024 ** 2, 16, 1024 ** 3),
      maxModelBytes: int(env, "KILN_MAX_MODEL_BYTES", 16 * 1024 ** 3, 1024, Number.MAX_SAFE_INTEGER),
      maxMetadataBytes: int(env, "KILN_MAX_METADATA_BYTES", 256 * 1024, 16, 64 * 1024 ** 2),
    },
    runtime: runtimeConfig(env),
  };
}

function runtimeConfig(env: Env): RuntimeConfig {
  const url = str(env, "KILN_URL", "http://127.0.0.1:7070");
  return {
    url,
    storeUrl: str(env, "KILN_STORE_URL", url),
    registryUrl: str(env, "KILN_REGISTRY_URL", url),
    schedulerUrl: str(env, "KILN_SCHEDULER_URL", url),
    ...(env.KILN_TOKEN && { token: env.KILN_TOKEN }),
    jobAckWaitMs: int(env, "KILN_JOB_ACK_WAIT_MS", 30_000, 100, 3_600_000),
    heartbeatMs: int(env, "KILN_EXECUTOR_HEARTBEAT_MS", 500, 50, 60_000),
    resultsTtlMs: int(env, "KILN_RESULTS_TTL_MS", 3_600_000, 1_000, 30 * 86_400_000),
    temporaryTtlMs: int(env, "KILN_TEMPORARY_TTL_MS", 3_600_000, 10_000, 30 * 86_400_000),
    jobRetentionMs: int(env, "KILN_JOB_RETENTION_MS", 0, 0, 100 * 365 * 86_400_000),
    predictTimeoutMs: int(env, "KILN_PREDICT_TIMEOUT_MS", 30_000, 10, 600_000),
    webhookNetworks: oneOf(env, "KILN_WEBHOOK_NETWORKS", ["any", "public"] as const, "any"),
    executor: {
      id: str(env, "KILN_EXECUTOR_ID", ""),
      labels: str(env, "KILN_EXECUTOR_LABELS", "").split(",").map((l) => l.trim()).filter(Boolean),
      slots: int(env, "KILN_EXECUTOR_SLOTS", 2, 1, 1024),
      modelCacheBytes: int(env, "KILN_EXECUTOR_MODEL_CACHE_BYTES", 1024 ** 3, 0, Number.MAX_SAFE_INTEGER),
      embedded: bool(env, "KILN_EMBEDDED_EXECUTOR", true),
      directBlobs: bool(env, "KILN_EXECUTOR_DIRECT_BLOBS", false),
      requestLogFlushMs: int(env, "KILN_REQUEST_LOG_FLUSH_MS", 60_000, 100, 3_600_000),
    },
  };
}

/** The config as one log-safe object: secrets and credentials in URIs are masked. */
export function redactConfig(config: Config): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value) => {
      if (key === "secretAccessKey" || key === "accessKeyId" || key === "token") return value ? "***" : value;
      if (key === "authSecrets") return (value as string[]).map(() => "***");
      if (typeof value === "string") return value.replace(/\/\/([^/@:]+):([^/@]+)@/, "//$1:***@");
      return value;
    }),
  );
}

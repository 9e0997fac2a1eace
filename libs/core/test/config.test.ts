import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("defaults to embedded mode", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 7070,
      dataDir: ".kiln",
      metadata: { backend: "sqlite" },
      blobs: { backend: "fs" },
      bus: { backend: "memory", eventsTtlMs: 10_000 },
    });
    expect(c.limits.maxMessageBytes).toBe(16 * 1024 * 1024);
    expect(c.heapGrowingPercent).toBe(200);
    expect(loadConfig({ KILN_HEAP_GROWING_PERCENT: "0" }).heapGrowingPercent).toBe(0);
    expect(c.runtime.webhookNetworks).toBe("any");
    expect(loadConfig({ KILN_WEBHOOK_NETWORKS: "public" }).runtime.webhookNetworks).toBe("public");
  });

  it("reads production backends and sizes with units", () => {
    const c = loadConfig({
      KILN_METADATA: "mongodb",
      KILN_MONGODB_URI: "mongodb://u:pw123@db:27017",
      KILN_BLOBS: "s3",
      KILN_S3_BUCKET: "kiln",
      KILN_S3_SECRET_ACCESS_KEY: "shh",
      KILN_BUS: "nats",
      KILN_NATS_URL: "nats://a:4222,nats://b:4222",
      KILN_MAX_MESSAGE_BYTES: "32MiB",
    });
    expect(c.metadata).toEqual({ backend: "mongodb", uri: "mongodb://u:pw123@db:27017", database: "kiln" });
    expect(c.bus).toEqual({ backend: "nats", servers: ["nats://a:4222", "nats://b:4222"], eventsTtlMs: 86_400_000 });
    expect(loadConfig({ KILN_EVENTS_TTL_MS: "5000" }).bus.eventsTtlMs).toBe(5000);
    expect(c.limits.maxMessageBytes).toBe(32 * 1024 * 1024);
    const shown = JSON.stringify(redactConfig(c));
    expect(shown).not.toContain("pw123");
    expect(shown).not.toContain("shh");
  });

  it.each([
    ["KILN_PORT", "seventy"],
    ["KILN_PORT", "70000"],
    ["KILN_METADATA", "postgres"],
    ["KILN_LOG_LEVEL", "loud"],
    ["KILN_MAX_MESSAGE_BYTES", "-1"],
    // Below the SDK's 4 MiB chunks and their framing.
    ["KILN_MAX_MESSAGE_BYTES", "4MiB"],
    ["KILN_S3_FORCE_PATH_STYLE", "maybe"],
    ["KILN_CORS_ORIGINS", "app.example.com/path"],
    ["KILN_HEAP_GROWING_PERCENT", "5000"],
    ["KILN_WEBHOOK_NETWORKS", "internal"],
  ])("a bad %s (%s) names the variable", (name, value) => {
    const env = { [name]: value, KILN_BLOBS: name.startsWith("KILN_S3") ? "s3" : "fs", KILN_S3_BUCKET: "b" };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it("reads the browser origins allowed to call", () => {
    expect(loadConfig({ KILN_CORS_ORIGINS: "https://app.example.com, http://localhost:5173" }).corsOrigins).toEqual([
      "https://app.example.com",
      "http://localhost:5173",
    ]);
    expect(loadConfig({ KILN_CORS_ORIGINS: "*" }).corsOrigins).toEqual(["*"]);
    expect(loadConfig({}).corsOrigins).toEqual([]);
  });

  it("a production backend without its address names the missing variable", () => {
    expect(() => loadConfig({ KILN_BUS: "nats" })).toThrow("KILN_NATS_URL");
    expect(() => loadConfig({ KILN_METADATA: "mongodb" })).toThrow("KILN_MONGODB_URI");
  });
});

import { describe, expect, it } from "vitest";
import { Addresses } from "./addresses.js";
import { interpolate, startOrder } from "./compose-plan.js";

describe("the stack harness's reading of the files", () => {
  it("makes the stack's host names local and refuses one that names nothing in it", () => {
    const a = new Addresses();
    a.set("store:7070", 41001);
    a.set("nats:4222", 41002);
    expect(a.rewrite("http://store:7070", "KILN_STORE_URL")).toBe("http://127.0.0.1:41001");
    expect(a.rewrite("nats://nats:4222,nats://127.0.0.1:4223", "KILN_NATS_URL")).toBe("nats://127.0.0.1:41002,nats://127.0.0.1:4223");
    expect(a.rewrite("store:7070", "Caddyfile")).toBe("127.0.0.1:41001");
    expect(() => a.rewrite("http://stroe:7070", "KILN_STORE_URL")).toThrow(/KILN_STORE_URL: stroe:7070 is no address of the stack/);
    expect(() => a.rewrite("http://store:7071", "KILN_STORE_URL")).toThrow(/store:7071/);
  });

  it("fills in compose's ${NAME:-default} and orders services after what they depend on", () => {
    expect(interpolate("${KILN_S3_SECRET:-kiln-change-me}")).toBe("kiln-change-me");
    expect(interpolate("${KILN_S3_SECRET:-x}", { KILN_S3_SECRET: "s" })).toBe("s");
    expect(interpolate('"$$MINIO_ROOT_PASSWORD"')).toBe('"$MINIO_ROOT_PASSWORD"');
    const file = { services: { b: { depends_on: ["a"] }, c: { depends_on: { b: { condition: "service_healthy" } } }, a: {} } };
    expect(startOrder(file)).toEqual(["a", "b", "c"]);
    expect(() => startOrder({ services: { a: { depends_on: ["b"] }, b: { depends_on: ["a"] } } })).toThrow(/cycle a → b → a/);
  });
});

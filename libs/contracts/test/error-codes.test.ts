import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { codeName, codeOf } from "../src/index.js";

describe("job error code names", () => {
  it("name every code as google.rpc.Code spells it, and read each name back", () => {
    expect(codeName(Code.FailedPrecondition)).toBe("FAILED_PRECONDITION");
    expect(codeName(Code.Canceled)).toBe("CANCELLED");
    expect(codeName(Code.DeadlineExceeded)).toBe("DEADLINE_EXCEEDED");
    for (const code of Object.values(Code).filter((c): c is Code => typeof c === "number")) expect(codeOf(codeName(code))).toBe(code);
  });

  it("read an unknown name as Unknown", () => {
    expect(codeOf("WHATEVER")).toBe(Code.Unknown);
    expect(codeOf("")).toBe(Code.Unknown);
  });
});

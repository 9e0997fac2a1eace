import { Code } from "@connectrpc/connect";

/**
 * A job's error carries its code by name ("FAILED_PRECONDITION", as google.rpc.Code spells
 * it): "FAILED_PRECONDITION" → Code.FailedPrecondition, "CANCELLED" → Code.Canceled;
 * unknown names → Code.Unknown.
 */
export function codeOf(name: string): Code {
  if (name === "CANCELLED") return Code.Canceled;
  const pascal = name.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code>)[pascal];
  return typeof code === "number" ? code : Code.Unknown;
}

/** Code.FailedPrecondition → "FAILED_PRECONDITION" (Code.Canceled → "CANCELLED"): the inverse of codeOf. */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

import { invalidArgument } from "@kiln/core";

/** Whether `subject` (no wildcards) is matched by `filter` (may hold `*` and a trailing `>`). */
export function subjectMatches(filter: string, subject: string): boolean {
  return subjectMatcher(filter)(subject);
}

/** subjectMatches with the filter split once, for testing many subjects against it. */
export function subjectMatcher(filter: string): (subject: string) => boolean {
  if (!filter.includes("*")) {
    if (!filter.endsWith(">")) return (subject) => subject === filter;
    const prefix = filter.slice(0, -1); // "a.b.>" matches what starts "a.b." and goes on
    return (subject) => subject.length > prefix.length && subject.startsWith(prefix);
  }
  const f = filter.split(".");
  return (subject) => {
    const s = subject.split(".");
    for (let i = 0; i < f.length; i++) {
      if (f[i] === ">") return s.length > i;
      if (i >= s.length) return false;
      if (f[i] !== "*" && f[i] !== s[i]) return false;
    }
    return f.length === s.length;
  };
}

/** Whether some subject is matched by both patterns (JetStream's rule for overlapping streams and work-queue consumers). */
export function subjectsCollide(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === ">" || y[i] === ">") return true;
    if (x[i] !== "*" && y[i] !== "*" && x[i] !== y[i]) return false;
  }
  return x.length === y.length;
}

const TOKEN = /^[^\s.*>]+$/;

/** Throws INVALID_SUBJECT unless `subject` is well formed; wildcards only where a filter is allowed. */
export function checkSubject(subject: string, allowWildcards: boolean): void {
  const tokens = subject.split(".");
  const ok = tokens.every(
    (t, i) => TOKEN.test(t) || (allowWildcards && (t === "*" || (t === ">" && i === tokens.length - 1))),
  );
  if (!ok) {
    throw invalidArgument("INVALID_SUBJECT", `invalid ${allowWildcards ? "subject filter" : "subject"} "${subject}"`, {
      subject,
    });
  }
}

const NAME = /^[^\s.*>/\\]+$/;

/**
 * Stream and durable names are single subject tokens in JetStream's API, so the same characters
 * are banned; queue group names follow the same rule.
 */
export function checkName(kind: "stream" | "durable" | "queue", name: string): void {
  if (!NAME.test(name)) throw invalidArgument("INVALID_NAME", `invalid ${kind} name "${name}"`, { [kind]: name });
}

/** The stream checks both backends make before asking their store. */
export function checkStreamConfig(config: { name: string; subjects: string[]; maxAgeMs?: number }): void {
  checkName("stream", config.name);
  if (config.maxAgeMs !== undefined && !(Number.isFinite(config.maxAgeMs) && config.maxAgeMs > 0)) {
    throw invalidArgument("INVALID_STREAM_CONFIG", `maxAgeMs must be positive, got ${config.maxAgeMs}`, { stream: config.name });
  }
  if (config.subjects.length === 0) {
    throw invalidArgument("INVALID_SUBJECT", `stream ${config.name} needs at least one subject`, { stream: config.name });
  }
  for (const s of config.subjects) checkSubject(s, true);
}

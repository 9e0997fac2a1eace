import { pino, type Logger } from "pino";

export type { Logger };

/** One structured JSON line per event. Tests pass level "silent". */
export function createLogger(name: string, level: string = "info"): Logger {
  return pino({ name, level });
}

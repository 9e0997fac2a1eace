import { join } from "node:path";
import { startNodeService, type ServiceProcess } from "@kiln/core/testing";

export type { ServiceProcess };

const services = join(import.meta.dirname, "../..");

/** Starts `services/{name}/dist/main.js` with KILN_* variables and waits until it is ready. */
export function startService(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  return startNodeService(join(services, name, "dist/main.js"), env);
}

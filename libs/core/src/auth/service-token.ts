import type { Config } from "../config.js";
import { EVERY_PROJECT, mintToken } from "./token.js";

/**
 * The token a Kiln process shows the services it calls: KILN_TOKEN when given, else one it
 * mints for itself (role service, every project) from KILN_AUTH_SECRETS when it has them;
 * none when tokens are not checked. The minted one never leaves the process's calls.
 */
export function serviceToken(config: Config, subject: string): string | undefined {
  if (config.runtime.token) return config.runtime.token;
  const [secret] = config.authSecrets;
  return secret ? mintToken(secret, { subject, role: "service", projects: [EVERY_PROJECT] }) : undefined;
}

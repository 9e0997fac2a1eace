import type { Config } from "../config.js";
import { EVERY_PROJECT, mintToken } from "./token.js";

/**
 * The token a Kiln process shows the services it calls: one it mints for itself (role
 * service, every project) when it has KILN_AUTH_SECRETS, else KILN_TOKEN (an executor kept
 * from the secret); none when tokens are not checked. A minted one never leaves the
 * process's calls.
 */
export function serviceToken(config: Config, subject: string): string | undefined {
  const [secret] = config.authSecrets;
  return secret ? mintToken(secret, { subject, role: "service", projects: [EVERY_PROJECT] }) : config.runtime.token;
}

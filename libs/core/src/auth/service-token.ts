import { randomBytes } from "node:crypto";
import type { Config } from "../config.js";
import { EVERY_PROJECT, mintToken } from "./token.js";

/**
 * A secret of this process alone, for the tokens its own parts show each other (the
 * embedded executor's calls) when the configuration gives none: with only an identity
 * provider, nothing else could sign them. No other process accepts its tokens.
 */
export const PROCESS_SECRET = randomBytes(32).toString("hex");

/**
 * The token a Kiln process shows the services it calls: one it mints for itself (role
 * service, every project) when it has KILN_AUTH_SECRETS, else KILN_TOKEN (an executor kept
 * from the secret, or services with only an identity provider), else, with an identity
 * provider, one of the process's own secret (good within this process: embedded mode);
 * none when tokens are not checked. A minted one never leaves the process's calls.
 */
export function serviceToken(config: Config, subject: string): string | undefined {
  const [secret] = config.authSecrets;
  if (secret) return mint(secret, subject);
  if (config.runtime.token) return config.runtime.token;
  return config.identityProvider ? mint(PROCESS_SECRET, subject) : undefined;
}

function mint(secret: string, subject: string): string {
  return mintToken(secret, { subject, role: "service", projects: [EVERY_PROJECT] });
}

import type { Logger } from "pino";
import type { Config } from "../config.js";
import { Authorizer } from "./authorizer.js";
import { JwksKeys } from "./jwks.js";
import { PROCESS_SECRET } from "./service-token.js";

/** The token checks the configuration asks for (KILN_AUTH_SECRETS, KILN_AUTH_ISSUER); none when it asks for none. */
export function configuredAuthorizer(config: Config, logger: Logger): Authorizer | undefined {
  const idp = config.identityProvider;
  if (config.authSecrets.length === 0 && !idp) return undefined;
  return new Authorizer({
    // With only an identity provider, the process's own secret signs what its parts show each other.
    secrets: config.authSecrets.length > 0 ? config.authSecrets : [PROCESS_SECRET],
    revoked: config.revokedTokens,
    ...(idp && {
      identityProvider: {
        keys: new JwksKeys(idp.jwksUrl ? { jwksUrl: idp.jwksUrl } : { issuer: idp.issuer }, logger),
        issuer: idp.issuer,
        audience: idp.audience,
        roleClaim: idp.roleClaim,
        projectsClaim: idp.projectsClaim,
      },
    }),
  });
}

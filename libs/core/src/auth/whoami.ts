import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { AuthService } from "@kiln/proto/kiln/auth/v1/auth_pb";
import { CALLER } from "./caller.js";

/** AuthService on every server: the caller as this server sees it (the token check has run before, when there is one). */
export function registerAuthService(router: ConnectRouter, checksTokens: boolean): void {
  router.service(AuthService, {
    whoAmI(_req, ctx) {
      const claims = ctx.values.get(CALLER);
      if (!checksTokens || !claims) return { tokensChecked: checksTokens };
      return {
        tokensChecked: true,
        subject: claims.sub,
        role: claims.role,
        projects: claims.projects,
        ...(claims.exp !== undefined && { expireTime: timestampFromMs(claims.exp * 1000) }),
        issuer: claims.iss ?? "kiln",
      };
    },
  });
}

import type { KubeObject } from "./kubernetes-plan.js";

/** What the operator keeps out of the files and gives at deploy time: the secret tokens are signed with. */
export const AUTH_SECRET = "operator-secret-of-openssl-rand-hex-32";

/** `KILN_AUTH_SECRETS=… docker compose up`: compose's shell environment. */
export const COMPOSE_SHELL = { KILN_AUTH_SECRETS: AUTH_SECRET };

/** `kubectl -n kiln create secret generic kiln-auth --from-literal=KILN_AUTH_SECRETS=…` */
export const KILN_AUTH_SECRET: KubeObject = { kind: "Secret", metadata: { name: "kiln-auth" }, stringData: { KILN_AUTH_SECRETS: AUTH_SECRET } };

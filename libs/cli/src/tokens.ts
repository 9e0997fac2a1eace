import type { Command } from "commander";
import type { Output } from "./output.js";
import { printFields, printJson } from "./output.js";
import { parseLifetime } from "./option-values.js";
import { collect } from "./key-values.js";

const DAY_MS = 86_400_000;

/**
 * Tokens are minted where the server's secret is (KILN_AUTH_SECRETS), by whoever runs
 * the servers; no service mints or stores them.
 */
export function tokenCommands(program: Command, output: () => Output): void {
  program
    .command("tokens:create")
    .argument("<subject>", "who holds it: a person, a team, a service (logs and refusals name it)")
    .description("mint a token signed with the first secret in KILN_AUTH_SECRETS (where the servers' secrets are); prints it")
    .requiredOption("--role <role>", "read (get, list, read), write (also create, put, fit, predict), admin (also delete, purge) or service (also the executors' calls)")
    .option("--project <id>", "a project it reaches (repeatable; at least one); '*' for every project", collect)
    .option("--expires <lifetime>", 'how long it lasts: "90d", "12h", "2w" or "never"', parseLifetime("--expires"), 90 * DAY_MS)
    .action(async (subject: string, opts: { role: string; project?: string[]; expires: number | undefined }) => {
      if (!opts.project) throw new Error("name the projects it reaches: --project ID (repeatable), or --project '*' for every one");
      // Server code (node:crypto and the token's rules) loads for this command only.
      const core = "@kiln/core";
      const { mintToken, readTokenClaims, ROLES } = (await import(core)) as typeof import("@kiln/core");
      if (!(ROLES as readonly string[]).includes(opts.role)) throw new Error(`--role takes one of ${ROLES.join(", ")}; got "${opts.role}"`);
      const secret = (process.env.KILN_AUTH_SECRETS ?? "").split(",").map((s) => s.trim()).find(Boolean);
      if (!secret) throw new Error("KILN_AUTH_SECRETS is not set here: mint tokens where the servers' secrets are (the first one signs)");
      const token = mintToken(secret, {
        subject,
        role: opts.role as (typeof ROLES)[number],
        projects: opts.project,
        ...(opts.expires !== undefined && { expiresInSeconds: Math.round(opts.expires / 1000) }),
      });
      const o = output();
      if (o.json) printJson(o, { token, ...readTokenClaims(token) });
      else o.out.write(token + "\n");
    });

  program
    .command("tokens:show")
    .argument("[token]", "default: KILN_TOKEN")
    .description("what a Kiln token says (subject, role, projects, expiry, id); the servers, not this, decide whether it is good")
    .action(async (given: string | undefined) => {
      const token = given ?? process.env.KILN_TOKEN;
      if (!token) throw new Error("no token given and KILN_TOKEN is not set");
      const core = "@kiln/core";
      const { readTokenClaims } = (await import(core)) as typeof import("@kiln/core");
      const claims = readTokenClaims(token);
      const o = output();
      if (o.json) return printJson(o, claims);
      const expired = claims.exp !== undefined && claims.exp * 1000 <= Date.now();
      printFields(o, [
        ["subject", claims.sub],
        ["role", claims.role],
        ["projects", claims.projects.join(", ")],
        ["issued", new Date(claims.iat * 1000)],
        ["expires", claims.exp === undefined ? "never" : `${new Date(claims.exp * 1000).toISOString()}${expired ? " (expired)" : ""}`],
        ["id", claims.jti],
      ]);
    });
}


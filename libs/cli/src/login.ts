import type { Command } from "commander";
import type { Kiln } from "@kiln/sdk";
import { printFields, printJson, type Output } from "./output.js";

/** Signing in at the identity provider the servers take tokens of (KILN_AUTH_ISSUER), so no one copies tokens around. */
export function loginCommands(program: Command, connect: () => Promise<Kiln>, output: () => Output): void {
  program
    .command("whoami")
    .description("who the server takes you for: the subject, role, projects and expiry of the token sent (KILN_TOKEN, or kiln login's), and who issued it")
    .action(async () => {
      const me = await (await connect()).whoami();
      const o = output();
      if (o.json) return printJson(o, me);
      if (!me.tokensChecked) return void o.out.write("this server checks no tokens: every call is taken\n");
      printFields(o, [
        ["subject", me.subject],
        ["role", me.role],
        ["projects", me.projects.join(", ")],
        ["expires", me.expireTime ?? "never"],
        ["issuer", me.issuer],
      ]);
    });

  program
    .command("login")
    .description("sign in at the identity provider (OpenID Connect device login: approve a code in any browser); calls then carry its token, renewed as it expires, unless KILN_TOKEN is set")
    .option("--issuer <url>", "the provider's issuer URL (default: $KILN_AUTH_ISSUER)")
    .option("--client-id <id>", "the OAuth client registered for the CLI at the provider (default: $KILN_AUTH_CLIENT_ID)")
    .option("--scope <scopes>", "OAuth scopes to ask for", "openid profile email offline_access")
    .action(async (opts: { issuer?: string; clientId?: string; scope: string }) => {
      const issuer = opts.issuer ?? process.env.KILN_AUTH_ISSUER;
      const clientId = opts.clientId ?? process.env.KILN_AUTH_CLIENT_ID;
      if (!issuer || !clientId) throw new Error("name the identity provider: --issuer URL and --client-id ID (or KILN_AUTH_ISSUER and KILN_AUTH_CLIENT_ID)");
      const { credentialsPath, deviceLogin, writeCredentials } = await import("@kiln/sdk/login");
      const o = output();
      const credentials = await deviceLogin({
        issuer,
        clientId,
        scope: opts.scope,
        onCode: (p) => o.err.write(`To sign in, open ${p.verificationUriComplete ?? p.verificationUri} and enter the code ${p.userCode} (it expires in ${Math.round(p.expiresInSeconds / 60)} min)\n`),
      });
      await writeCredentials(credentials);
      const who = await tokenSubject(credentials.token);
      o.err.write(`Signed in${who ? ` as ${who}` : ""} at ${issuer}; the login is kept in ${credentialsPath()}\n`);
    });

  program
    .command("logout")
    .description("forget the login `kiln login` kept")
    .action(async () => {
      const { credentialsPath, removeCredentials } = await import("@kiln/sdk/login");
      const removed = await removeCredentials();
      output().err.write(removed ? `Signed out (${credentialsPath()} removed)\n` : "No login was kept\n");
    });
}

/** The person a provider's token names, as the servers will name them, for saying who signed in (the servers decide what it is worth). */
async function tokenSubject(token: string): Promise<string> {
  // Server code (the claims' rule) loads for this command only.
  const core = "@kiln/core";
  const { personOf } = (await import(core)) as typeof import("@kiln/core");
  try {
    return personOf(JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>);
  } catch {
    return "";
  }
}

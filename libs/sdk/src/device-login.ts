import { tokenOfAnswer, type StoredCredentials } from "./stored-login.js";

export interface DeviceLoginOptions {
  /** The provider's issuer URL (its discovery document is at {issuer}/.well-known/openid-configuration). */
  issuer: string;
  /** The OAuth client registered for Kiln's CLI at the provider (a public client with the device grant). */
  clientId: string;
  scope?: string;
  /** Says where the person approves the login: a URL and the code to enter there. */
  onCode(prompt: { verificationUri: string; verificationUriComplete?: string; userCode: string; expiresInSeconds: number }): void;
  signal?: AbortSignal;
}

type TokenAnswer = { access_token?: string; id_token?: string; refresh_token?: string; expires_in?: number; error?: string; error_description?: string };

/**
 * OAuth 2.0's device authorization grant (RFC 8628), as `az login --use-device-code` and
 * `gh auth login` do it: the provider gives a code, the person approves it in any browser,
 * and the provider's tokens come back here.
 */
export async function deviceLogin(options: DeviceLoginOptions): Promise<StoredCredentials> {
  const issuer = options.issuer.replace(/\/$/, "");
  const discovery = (await getJson(`${issuer}/.well-known/openid-configuration`)) as { device_authorization_endpoint?: string; token_endpoint?: string };
  if (!discovery.device_authorization_endpoint || !discovery.token_endpoint) {
    throw new Error(`${issuer} offers no device login (its discovery document has no device_authorization_endpoint or token_endpoint)`);
  }
  const started = await postForm(discovery.device_authorization_endpoint, { client_id: options.clientId, scope: options.scope ?? "openid profile email offline_access" });
  if (!started.ok) throw new Error(`${issuer} refused the device login: ${describe(started.body)}`);
  const device = started.body as { device_code: string; user_code: string; verification_uri: string; verification_uri_complete?: string; expires_in: number; interval?: number };
  options.onCode({ verificationUri: device.verification_uri, verificationUriComplete: device.verification_uri_complete, userCode: device.user_code, expiresInSeconds: device.expires_in });
  let interval = (device.interval ?? 5) * 1000;
  const deadline = Date.now() + device.expires_in * 1000;
  while (Date.now() < deadline) {
    await sleep(interval, options.signal);
    const polled = await postForm(discovery.token_endpoint, { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: device.device_code, client_id: options.clientId });
    const answer = polled.body as TokenAnswer;
    if (polled.ok) {
      const now = Date.now();
      return {
        issuer: options.issuer,
        clientId: options.clientId,
        tokenEndpoint: discovery.token_endpoint,
        token: tokenOfAnswer(answer),
        ...(answer.refresh_token && { refreshToken: answer.refresh_token }),
        obtainedAt: now,
        expiresAt: now + (answer.expires_in ?? 300) * 1000,
      };
    }
    if (answer.error === "authorization_pending") continue;
    if (answer.error === "slow_down") {
      interval += 5000;
      continue;
    }
    throw new Error(answer.error === "access_denied" ? "the login was refused at the identity provider" : answer.error === "expired_token" ? "the code expired before it was approved: run kiln login again" : `the login failed: ${describe(answer)}`);
  }
  throw new Error("the code expired before it was approved: run kiln login again");
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

async function postForm(url: string, form: Record<string, string>): Promise<{ ok: boolean; body: unknown }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" }, body: new URLSearchParams(form) });
  return { ok: res.ok, body: await res.json().catch(() => ({ error: `HTTP ${res.status}` })) };
}

function describe(body: unknown): string {
  const b = body as { error?: string; error_description?: string };
  return [b.error, b.error_description].filter(Boolean).join(": ") || JSON.stringify(body);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });
}

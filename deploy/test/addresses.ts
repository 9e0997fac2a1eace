/**
 * The stack's "host:port" addresses (compose service names, Kubernetes Service names) and
 * the local ports the harness gave them. A value naming an address that is in no plan is a
 * mistake in the file (a misspelt host), not something to pass through.
 */
export class Addresses {
  private readonly local = new Map<string, string>();

  set(address: string, port: number): void {
    this.local.set(address, `127.0.0.1:${port}`);
  }

  rewrite(value: string, what: string): string {
    return value.replace(/(^|\/\/|@)([a-z][a-z0-9.-]*):(\d+)/g, (whole, before: string, host: string, port: string) => {
      if (host === "127.0.0.1" || host === "localhost" || host === "0.0.0.0") return whole;
      const local = this.local.get(`${host}:${port}`);
      if (!local) throw new Error(`${what}: ${host}:${port} is no address of the stack (${[...this.local.keys()].join(", ")})`);
      return before + local;
    });
  }
}

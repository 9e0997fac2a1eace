import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

/**
 * Where webhooks may POST (KILN_WEBHOOK_NETWORKS). "any": every address but those no
 * webhook has business with, link-local ones (a cloud's metadata service answers on
 * 169.254.169.254, whose credentials a webhook URL must not be able to fetch), unspecified
 * and multicast ones. "public" also refuses loopback, private, carrier-grade NAT and
 * unique-local addresses (GitLab's "local network" setting, off).
 */
export type WebhookNetworks = "any" | "public";

const NEVER = new BlockList();
NEVER.addSubnet("0.0.0.0", 8, "ipv4");
NEVER.addSubnet("169.254.0.0", 16, "ipv4");
NEVER.addSubnet("224.0.0.0", 3, "ipv4"); // multicast, reserved and broadcast
NEVER.addAddress("::", "ipv6");
NEVER.addSubnet("fe80::", 10, "ipv6");
NEVER.addSubnet("ff00::", 8, "ipv6");
NEVER.addAddress("fd00:ec2::254", "ipv6"); // AWS's metadata service over IPv6

const LOCAL = new BlockList();
LOCAL.addSubnet("127.0.0.0", 8, "ipv4");
LOCAL.addSubnet("10.0.0.0", 8, "ipv4");
LOCAL.addSubnet("172.16.0.0", 12, "ipv4");
LOCAL.addSubnet("192.168.0.0", 16, "ipv4");
LOCAL.addSubnet("100.64.0.0", 10, "ipv4");
LOCAL.addAddress("::1", "ipv6");
LOCAL.addSubnet("fc00::", 7, "ipv6");

/** Why a webhook may not POST to `address` (an IP), or undefined if it may. */
export function refusedAddress(address: string, networks: WebhookNetworks): string | undefined {
  const family = isIP(address);
  if (!family) return undefined;
  const type = family === 4 ? "ipv4" : "ipv6";
  // An IPv4 address in IPv6 clothing (::ffff:169.254.169.254) is judged as the IPv4 one.
  const mapped = type === "ipv6" ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
  if (mapped) return refusedAddress(mapped, networks);
  if (NEVER.check(address, type)) return `${address} is a link-local, unspecified or multicast address, where webhooks never POST`;
  if (networks === "public" && LOCAL.check(address, type)) return `${address} is a loopback or private address, and KILN_WEBHOOK_NETWORKS is "public"`;
  return undefined;
}

/** Why a webhook may not POST to the URL's host when it is an address (a name is checked as it resolves: guardedLookup). */
export function refusedHost(url: URL, networks: WebhookNetworks): string | undefined {
  return refusedAddress(url.hostname.replace(/^\[|\]$/g, ""), networks); // IPv6 hosts come in brackets
}

/** An Error a refused address fails a delivery with; its code is what the delivery records. */
export class RefusedAddressError extends Error {
  readonly code = "ADDRESS_REFUSED";
  constructor(reason: string) {
    super(reason);
    this.name = "RefusedAddressError";
  }
}

/**
 * dns.lookup that fails for the addresses `networks` refuses: the connection goes to the
 * address checked here, so a name that resolves elsewhere the next time (DNS rebinding) is
 * checked again.
 */
export function guardedLookup(networks: WebhookNetworks): LookupFunction {
  return ((hostname: string, options: LookupOneOptions | LookupAllOptions, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, "", 0);
      const refused = addresses.map((a) => refusedAddress(a.address, networks)).find(Boolean);
      if (refused) return callback(new RefusedAddressError(`${hostname} resolves to ${refused}`), "", 0);
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as LookupFunction;
}

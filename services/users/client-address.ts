import { createHash, timingSafeEqual } from "node:crypto";
import { BlockList, isIP } from "node:net";
import type { CallContext } from "nice-grpc-common";
import { addressKey } from "../kit/client-address-key.js";
import { proxySecretHeader } from "../kit/proxy-secret.js";

/** The address of a grpc-js peer ("ipv4:10.0.0.1:5123", "ipv6:[::1]:5123"), without its port. */
function peerAddress(peer: string): string {
  return peer.replace(/^ipv[46]:/, "").replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
}

/**
 * The trusted proxies of LAUNCHPAD_TRUSTED_PROXIES: comma-separated
 * addresses and CIDR ranges ("10.0.0.0/8", "fd00::/8"). Throws on anything else.
 */
export function parseTrustedProxies(list: string): BlockList {
  const proxies = new BlockList();
  for (const entry of list.split(",").map((e) => e.trim()).filter(Boolean)) {
    const [address, prefix, extra] = entry.split("/");
    const family = isIP(address ?? "");
    if (family === 0 || extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      throw new Error(`"${entry}" is not an address or CIDR range`);
    }
    const type = family === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) proxies.addAddress(address!, type);
    else proxies.addSubnet(address!, Number(prefix), type);
  }
  return proxies;
}

function isTrusted(proxies: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (proxies.check(address, family === 6 ? "ipv6" : "ipv4")) return true;
  // An IPv4 peer on a dual-stack socket reads "::ffff:10.0.0.1".
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped !== null && proxies.check(mapped[1]!, "ipv4");
}

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * Where a call really comes from, as a throttle key (IPv6 by its /64, as the
 * edge keys it: see addressKey): the peer, or, when the peer is a trusted
 * proxy (the edge) AND the call carries the proxy secret, the address it
 * names in x-forwarded-for. Without a configured secret x-forwarded-for is
 * never believed: any local process could otherwise pick its own address.
 */
export function createClientAddress(trustedProxies: BlockList, proxySecret: string) {
  // Compared as digests, so the comparison is constant-time whatever the length sent.
  const expected = proxySecret === "" ? undefined : digest(proxySecret);
  const callerOf = (context: Pick<CallContext, "peer" | "metadata">): string => {
    const peer = peerAddress(context.peer);
    const forwarded = context.metadata.get("x-forwarded-for");
    if (!forwarded || !expected || !isTrusted(trustedProxies, peer)) return peer;
    const vouched = context.metadata.get(proxySecretHeader);
    if (typeof vouched !== "string" || !timingSafeEqual(digest(vouched), expected)) return peer;
    return forwarded.split(",")[0]!.trim();
  };
  return (context: Pick<CallContext, "peer" | "metadata">): string => addressKey(callerOf(context));
}

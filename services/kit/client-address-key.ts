import { isIPv6 } from "node:net";

/**
 * A client address as a per-client key, for rate limits and throttles:
 * IPv4-mapped IPv6 written as IPv4, and IPv6 cut to its /64, which one client
 * usually holds whole (so walking through it earns no fresh budget). The edge
 * and the users service key alike, so a client is one client to both.
 */
export function addressKey(remoteAddress: string | undefined): string {
  const address = remoteAddress ?? "unknown";
  if (address.startsWith("::ffff:") && address.includes(".")) return address.slice(7);
  if (isIPv6(address)) return `${ipv6Prefix64(address)}::/64`;
  return address;
}

function ipv6Prefix64(address: string): string {
  const [head = "", tail] = address.split("%")[0]!.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill("0"), ...tailGroups];
  return groups
    .slice(0, 4)
    .map((group) => (parseInt(group, 16) || 0).toString(16))
    .join(":");
}

import { isIPv6 } from "node:net";
import { apiKeyPrefix } from "../../services/kit/auth/principal.js";
import type { EdgeRequest } from "../http-server.js";

const apiKeyId = new RegExp(`^${apiKeyPrefix}([0-9a-f]{16})_`);
const maxSubjectLength = 256;

/**
 * Who a request claims to be, for rate limiting only: "key:<id>" for an API
 * key (`lpk_<16 hex id>_…`), "sub:<sub>" for a JWT access token, decoded
 * WITHOUT verification; undefined when there is no bearer credential or it
 * cannot be read. Never use it to authorize anything: the services verify
 * credentials. A forged token only buys a fresh principal budget, which the
 * per-address ceiling still bounds.
 */
export function claimedPrincipal(authorization: string | undefined): string | undefined {
  if (!authorization || authorization.length > 8192) return undefined;
  // Clients send the same credential call after call: read each once.
  if (claims.has(authorization)) return claims.get(authorization);
  const principal = readPrincipal(authorization);
  if (claims.size >= claimsCacheSize) claims.delete(claims.keys().next().value!);
  claims.set(authorization, principal);
  return principal;
}

const claimsCacheSize = 10_000;
const claims = new Map<string, string | undefined>();

function readPrincipal(authorization: string): string | undefined {
  const match = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization);
  if (!match) return undefined;
  const token = match[1]!;
  const key = apiKeyId.exec(token);
  if (key) return `key:${key[1]}`;
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
    const sub = (claims as { sub?: unknown } | null)?.sub;
    if (typeof sub === "string" && sub.length > 0 && sub.length <= maxSubjectLength) return `sub:${sub}`;
  } catch {
    // Not a JWT: anonymous.
  }
  return undefined;
}

/**
 * The client's address as a rate-limit key: the TCP peer (X-Forwarded-For is
 * not trusted: the edge is the first hop), IPv4-mapped IPv6 written as IPv4,
 * and IPv6 cut to its /64, which one client usually holds whole.
 */
export function clientAddressOf(req: EdgeRequest): string {
  const address = req.socket?.remoteAddress ?? "unknown";
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

import type { CallContext } from "nice-grpc-common";

/** The address of a grpc-js peer ("ipv4:10.0.0.1:5123", "ipv6:[::1]:5123"), without its port. */
function peerAddress(peer: string): string {
  return peer.replace(/^ipv[46]:/, "").replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
}

/**
 * Where a call really comes from: the peer, or, when the peer is a trusted
 * proxy (the edge), the address it names in x-forwarded-for. The edge sets
 * that header itself and drops any a client sent, so only trusted peers'
 * word is taken.
 */
export function createClientAddress(trustedProxies: ReadonlySet<string>) {
  return (context: Pick<CallContext, "peer" | "metadata">): string => {
    const peer = peerAddress(context.peer);
    const forwarded = context.metadata.get("x-forwarded-for");
    if (!trustedProxies.has(peer) || !forwarded) return peer;
    return forwarded.split(",")[0]!.trim();
  };
}

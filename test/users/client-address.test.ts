import { Metadata } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { proxySecretHeader } from "../../services/kit/proxy-secret.js";
import { createClientAddress, parseTrustedProxies } from "../../services/users/client-address.js";

const secret = "the edge's proxy secret";
const clientAddress = createClientAddress(parseTrustedProxies("127.0.0.1,::1,10.1.0.0/16"), secret);
/** A call from `peer`; `vouched` is the proxy secret it carries, null for none. */
const call = (peer: string, forwarded?: string, vouched: string | null = secret) => ({
  peer,
  metadata: Metadata({
    ...(forwarded === undefined ? {} : { "x-forwarded-for": forwarded }),
    ...(vouched === null ? {} : { [proxySecretHeader]: vouched }),
  }),
});

describe("the address a sign-in is throttled by", () => {
  it("is the peer's address, without its port", () => {
    expect(clientAddress(call("ipv4:203.0.113.7:51234"))).toBe("203.0.113.7");
  });

  it("is keyed as the edge keys it: IPv6 by its /64, IPv4-mapped IPv6 as IPv4", () => {
    expect(clientAddress(call("ipv6:[2001:db8::1]:51234"))).toBe("2001:db8:0:0::/64");
    expect(clientAddress(call("ipv4:127.0.0.1:40000", "2001:db8:1:2::1"))).toBe(clientAddress(call("ipv4:127.0.0.1:40000", "2001:db8:1:2:ffff::2")));
    expect(clientAddress(call("ipv4:127.0.0.1:40000", "::ffff:198.51.100.23"))).toBe("198.51.100.23");
  });

  it("is the client a trusted proxy names in x-forwarded-for, when it sends the proxy secret", () => {
    expect(clientAddress(call("ipv4:127.0.0.1:40000", "198.51.100.23"))).toBe("198.51.100.23");
    expect(clientAddress(call("ipv6:[::1]:40000", "198.51.100.23, 10.0.0.1"))).toBe("198.51.100.23");
    expect(clientAddress(call("ipv6:[::ffff:127.0.0.1]:40000", "198.51.100.23"))).toBe("198.51.100.23");
  });

  it("trusts proxies by CIDR range", () => {
    expect(clientAddress(call("ipv4:10.1.200.3:40000", "198.51.100.23"))).toBe("198.51.100.23");
    expect(clientAddress(call("ipv4:10.2.0.3:40000", "198.51.100.23"))).toBe("10.2.0.3");
  });

  it("ignores x-forwarded-for from anyone else, so clients cannot pick their own address", () => {
    expect(clientAddress(call("ipv4:203.0.113.7:51234", "198.51.100.23"))).toBe("203.0.113.7");
  });

  it("ignores x-forwarded-for from a trusted address without the right secret: a local process is not the edge", () => {
    expect(clientAddress(call("ipv4:127.0.0.1:40000", "198.51.100.23", null))).toBe("127.0.0.1");
    expect(clientAddress(call("ipv4:127.0.0.1:40000", "198.51.100.23", "a guess"))).toBe("127.0.0.1");
    expect(clientAddress(call("ipv4:127.0.0.1:40000", "198.51.100.23", `${secret}x`))).toBe("127.0.0.1");
  });

  it("ignores x-forwarded-for altogether when no secret is configured", () => {
    const unconfigured = createClientAddress(parseTrustedProxies("127.0.0.1"), "");
    expect(unconfigured(call("ipv4:127.0.0.1:40000", "198.51.100.23", ""))).toBe("127.0.0.1");
  });

  it("refuses trusted proxies that are neither addresses nor CIDR ranges", () => {
    expect(() => parseTrustedProxies("edge.internal")).toThrow(/not an address/);
    expect(() => parseTrustedProxies("10.0.0.0/8/1")).toThrow(/not an address/);
    expect(() => parseTrustedProxies("10.0.0.0/x")).toThrow(/not an address/);
  });
});

import { Metadata } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { createClientAddress } from "../../services/users/client-address.js";

const clientAddress = createClientAddress(new Set(["127.0.0.1", "::1"]));
const call = (peer: string, forwarded?: string) => ({
  peer,
  metadata: Metadata(forwarded === undefined ? {} : { "x-forwarded-for": forwarded }),
});

describe("the address a sign-in is throttled by", () => {
  it("is the peer's address, without its port", () => {
    expect(clientAddress(call("ipv4:203.0.113.7:51234"))).toBe("203.0.113.7");
    expect(clientAddress(call("ipv6:[2001:db8::1]:51234"))).toBe("2001:db8::1");
  });

  it("is the client a trusted proxy names in x-forwarded-for", () => {
    expect(clientAddress(call("ipv4:127.0.0.1:40000", "198.51.100.23"))).toBe("198.51.100.23");
    expect(clientAddress(call("ipv6:[::1]:40000", "198.51.100.23, 10.0.0.1"))).toBe("198.51.100.23");
  });

  it("ignores x-forwarded-for from anyone else, so clients cannot pick their own address", () => {
    expect(clientAddress(call("ipv4:203.0.113.7:51234", "198.51.100.23"))).toBe("203.0.113.7");
  });
});

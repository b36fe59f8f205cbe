import { describe, expect, test } from "bun:test";
import { clientAddress, parseRange, type Range } from "../../src/core/client-ip.ts";

const ranges = (...list: string[]) => list.map((r) => parseRange(r)!) as Range[];
const headers = (h: Record<string, string>) => (name: string) => h[name];

describe("clientAddress", () => {
  const trusted = ranges("10.0.0.0/8", "::1", "::ffff:192.168.0.0/112");

  test("a direct peer is logged as it connected, whatever it claims", () => {
    expect(clientAddress("203.0.113.5", headers({ "x-real-ip": "198.51.100.1", "x-forwarded-for": "198.51.100.2" }), trusted)).toBe("203.0.113.5");
    expect(clientAddress("::ffff:203.0.113.5", headers({}), trusted)).toBe("203.0.113.5");
    expect(clientAddress("2001:db8:0:0:0:0:0:7", headers({}), trusted)).toBe("2001:db8::7");
  });

  test("a trusted proxy's X-Real-IP names the client, else the nearest untrusted hop of X-Forwarded-For", () => {
    expect(clientAddress("10.1.2.3", headers({ "x-real-ip": " 198.51.100.1 " }), trusted)).toBe("198.51.100.1");
    expect(clientAddress("::ffff:10.1.2.3", headers({ "x-real-ip": "2001:db8::1" }), trusted)).toBe("2001:db8::1");
    expect(clientAddress("::1", headers({ "x-forwarded-for": "1.1.1.1, 198.51.100.2, 10.9.9.9" }), trusted)).toBe("198.51.100.2");
    expect(clientAddress("192.168.4.4", headers({ "x-forwarded-for": "10.0.0.1, 10.0.0.2" }), trusted)).toBe("10.0.0.1");
  });

  test("a header that holds no address is not believed: the last good hop is logged", () => {
    expect(clientAddress("10.1.2.3", headers({ "x-real-ip": "evil\nline" }), trusted)).toBe("10.1.2.3");
    expect(clientAddress("10.1.2.3", headers({ "x-forwarded-for": "198.51.100.9, junk, 10.0.0.2" }), trusted)).toBe("10.0.0.2");
  });

  test("no peer address is logged as null; one that is not an IP as the runtime gave it", () => {
    expect(clientAddress(null, headers({ "x-real-ip": "198.51.100.1" }), trusted)).toBeNull();
    expect(clientAddress("/run/duplex.sock", headers({ "x-real-ip": "198.51.100.1" }), trusted)).toBe("/run/duplex.sock");
  });
});

describe("parseRange", () => {
  test("takes addresses and CIDR ranges of either family, and nothing else", () => {
    expect(parseRange("127.0.0.0/8")).toMatchObject({ v4: true, prefix: 8 });
    expect(parseRange("::1")).toMatchObject({ v4: false, prefix: 128 });
    expect(parseRange("::ffff:10.0.0.0/104")).toMatchObject({ v4: true, prefix: 8 });
    for (const bad of ["", "10.0.0.0/33", "10.0.0.0/8/1", "10.0.0.256", "::1/129", "::ffff:10.0.0.0/95", "localhost", "10.0.0.0/x"]) {
      expect({ bad, range: parseRange(bad) }).toEqual({ bad, range: null });
    }
  });
});

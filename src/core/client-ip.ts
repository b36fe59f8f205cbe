/**
 * The client's address, for the node's logs (docs/05-nginx.md): the TCP peer's, unless the
 * peer is a trusted proxy (DUPLEX_TRUSTED_PROXIES), whose X-Real-IP, else X-Forwarded-For,
 * then names the client. Anyone can send those headers; believed from any peer, they would
 * let a client write whatever address it likes into the logs.
 */
import {
  convertIPv4BinaryToString, convertIPv4MappedIPv6ToIPv4, convertIPv4ToBinary, convertIPv6BinaryToString,
  convertIPv6ToBinary, distinctRemoteAddr, isIPv4MappedIPv6,
} from "hono/utils/ipaddr";

interface Address {
  v4: boolean;
  bits: bigint;
}

/** An address with the number of leading bits that must match (32 or 128 for one address). */
export interface Range extends Address {
  prefix: number;
}

const width = (a: Address) => (a.v4 ? 32 : 128);

function parseAddress(text: string): Address | null {
  try {
    const type = distinctRemoteAddr(text);
    if (type === "IPv4") return { v4: true, bits: convertIPv4ToBinary(text) };
    if (type !== "IPv6") return null;
    const bits = convertIPv6ToBinary(text);
    // ::ffff:a.b.c.d is how a dual-stack socket shows an IPv4 peer: one address, one form.
    return isIPv4MappedIPv6(bits) ? { v4: true, bits: convertIPv4MappedIPv6ToIPv4(bits) } : { v4: false, bits };
  } catch {
    return null;
  }
}

const show = (a: Address) => (a.v4 ? convertIPv4BinaryToString(a.bits) : convertIPv6BinaryToString(a.bits));

/** "10.0.0.0/8", "::1" or "::ffff:10.0.0.0/104" as a range; null when it is none. */
export function parseRange(text: string): Range | null {
  const [base, bits, extra] = text.split("/");
  const address = parseAddress(base);
  if (!address || extra !== undefined) return null;
  // A range written as IPv4-mapped IPv6 counts the 96 bits of its ::ffff: prefix.
  const mapped = address.v4 && base.includes(":") ? 96 : 0;
  const prefix = bits === undefined ? width(address) : /^\d{1,3}$/.test(bits) ? Number(bits) - mapped : NaN;
  return prefix >= 0 && prefix <= width(address) ? { ...address, prefix } : null;
}

function within(a: Address, ranges: readonly Range[]): boolean {
  return ranges.some((r) => {
    if (r.v4 !== a.v4) return false;
    const shift = BigInt(width(a) - r.prefix);
    return a.bits >> shift === r.bits >> shift;
  });
}

/**
 * The address to log for a request from `peer` (null when the runtime gave none). From a
 * trusted proxy: X-Real-IP if it holds an address, else the nearest hop of X-Forwarded-For
 * (read from the right) that is not itself a trusted proxy.
 */
export function clientAddress(peer: string | null, header: (name: string) => string | undefined, trusted: readonly Range[]): string | null {
  const from = peer === null ? null : parseAddress(peer);
  if (!from) return peer;
  if (!within(from, trusted)) return show(from);
  const real = parseAddress(header("x-real-ip")?.trim() ?? "");
  if (real) return show(real);
  let client = from;
  for (const hop of (header("x-forwarded-for") ?? "").split(",").reverse()) {
    const address = parseAddress(hop.trim());
    if (!address) break;
    client = address;
    if (!within(address, trusted)) break;
  }
  return show(client);
}

/**
 * IPv6 on the link at packet level (issue 15): -6 off drops IPv6 (counted); neighbour solicitations
 * for our four addresses answered with libslirp's MACs, nothing else answered (the guest's duplicate
 * address detection undisturbed); router advertisements on solicitation and periodically, field by
 * field; echo to our addresses; our own solicitation for a guest address a frame waits for.
 * Frames are built and decoded by test/support/ip-family.ts (independent of src/wire) and cross-checked
 * by tcpdump where it is installed.
 */
import { describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/netns.js';
import { IPV6, ipv6Bytes, ipv6Text } from '../support/ip-family.js';
import { naiveChecksum } from '../support/oracle.js';
import { createStackContext, GUEST_MAC } from '../support/stack-context.js';
import { tcpdumpDecode, tcpdumpPrerequisite } from '../wire/tcpdump-oracle.js';

const GUEST = 'fd00::100';
const GUEST_LL = 'fe80::ff:fe00:100';
const GATEWAY_MAC6 = '52:56:00:00:00:02';
const DNS_MAC6 = '52:56:00:00:00:03';

function icmpv6(source: string, destination: string, body: number[], options: { hopLimit?: number; destinationMac?: number; sourceMac?: number } = {}): Uint8Array {
  const l4 = Uint8Array.from(body);
  const sum = naiveChecksum(IPV6.pseudoHeader(source, destination, 58, l4.length), l4);
  l4[2] = sum >> 8;
  l4[3] = sum & 0xff;
  return IPV6.frame(source, destination, 58, l4, { hopLimit: options.hopLimit ?? 255, destinationMac: options.destinationMac, sourceMac: options.sourceMac });
}

function solicitedNode(address: string): string {
  const b = ipv6Bytes(address);
  return ipv6Text(Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, b[13], b[14], b[15]]));
}

function neighborSolicitation(source: string, target: string, withSourceMac = true): Uint8Array {
  const body = [135, 0, 0, 0, 0, 0, 0, 0, ...ipv6Bytes(target)];
  if (withSourceMac) body.push(1, 1, 0x02, 0, 0, 0, 0x01, 0x00);
  return icmpv6(source, source === '::' ? solicitedNode(target) : solicitedNode(target), body, { destinationMac: 0x3333_ff00_0000 });
}

function routerSolicitation(source = GUEST_LL): Uint8Array {
  // From the unspecified address without a source link-layer option (RFC 4861 §6.1.1).
  const option = source === '::' ? [] : [1, 1, 0x02, 0, 0, 0, 0x01, 0x00];
  return icmpv6(source, 'ff02::2', [133, 0, 0, 0, 0, 0, 0, 0, ...option], { destinationMac: 0x3333_0000_0002 });
}

function echoRequest(source: string, destination: string, identifier: number, sequence: number, data: number[]): Uint8Array {
  return icmpv6(source, destination, [128, 0, 0, 0, identifier >> 8, identifier & 0xff, sequence >> 8, sequence & 0xff, ...data], { hopLimit: 64 });
}

function ipv6Context(config: { mtu?: number; disableDns?: boolean; disableHostLoopback?: boolean } = {}) {
  const ctx = createStackContext({ config: { ipv6: true, ...config } });
  ctx.link.take(); // the advertisement sent at start
  return ctx;
}

/** NDP options of a message (type, then its bytes after type and length). */
function ndpOptions(message: Uint8Array, fixed: number): { type: number; data: Uint8Array }[] {
  const out: { type: number; data: Uint8Array }[] = [];
  for (let at = fixed; at < message.length; ) {
    const length = message[at + 1] * 8;
    expect(length).toBeGreaterThan(0);
    out.push({ type: message[at], data: message.subarray(at + 2, at + length) });
    at += length;
  }
  return out;
}

function macOf(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

describe('IPv6 off (no -6)', () => {
  it('drops IPv6 frames and counts them', () => {
    const ctx = createStackContext();
    expect(ctx.exchange(neighborSolicitation(GUEST, 'fd00::2'))).toEqual([]);
    expect(ctx.stack.stats.snapshot().drops).toMatchObject({ unsupported_ether_type: 1 });
    expect(ctx.stack.stats.snapshot().ipv6FramesIn).toBeUndefined();
  });
});

describe('stats', () => {
  it('count IPv6 frames each way (beside the totals)', () => {
    const ctx = createStackContext({ config: { ipv6: true } }); // one advertisement out at start
    ctx.exchange(neighborSolicitation(GUEST, 'fd00::2'));
    ctx.exchange(neighborSolicitation(GUEST, 'fd00::4'));
    const s = ctx.stack.stats.snapshot();
    expect(s).toMatchObject({ ipv6FramesIn: 2, ipv6FramesOut: 2, framesIn: 2, framesOut: 2 });
  });
});

describe('neighbour discovery', () => {
  it.each([
    ['fd00::2', GATEWAY_MAC6],
    ['fd00::3', DNS_MAC6],
    ['fe80::2', GATEWAY_MAC6],
    ['fe80::3', DNS_MAC6],
  ])('a solicitation for %s is answered with %s, router + solicited + override', (target, mac) => {
    const ctx = ipv6Context();
    const out = ctx.exchange(neighborSolicitation(GUEST, target));
    expect(out).toHaveLength(1);
    const d = IPV6.decode(out[0]);
    expect(d).toMatchObject({ source: target, destination: GUEST, protocol: 58, hopLimit: 255, sourceMac: mac, destinationMac: '02:00:00:00:01:00' });
    expect(IPV6.icmpChecksumValid(d)).toBe(true);
    const na = d.payload;
    expect(na[0]).toBe(136);
    expect(na[4]).toBe(0xe0);
    expect(ipv6Text(na.subarray(8, 24))).toBe(target);
    expect(ndpOptions(na, 24).map((o) => [o.type, macOf(o.data)])).toEqual([[2, mac]]);
  });

  it('says nothing for other targets: fd00::4, and the guest\'s own duplicate address detection', () => {
    const ctx = ipv6Context();
    expect(ctx.exchange(neighborSolicitation(GUEST, 'fd00::4'))).toEqual([]);
    expect(ctx.exchange(neighborSolicitation('::', GUEST, false))).toEqual([]);
    expect(ctx.exchange(neighborSolicitation('::', GUEST_LL, false))).toEqual([]);
  });

  it('a duplicate address detection probe for fd00::2 gets an advertisement to all nodes (not solicited)', () => {
    const ctx = ipv6Context();
    const out = ctx.exchange(neighborSolicitation('::', 'fd00::2', false));
    expect(out).toHaveLength(1);
    const d = IPV6.decode(out[0]);
    expect(d).toMatchObject({ source: 'fd00::2', destination: 'ff02::1', destinationMac: '33:33:00:00:00:01' });
    expect(d.payload[4]).toBe(0xa0);
  });

  it('drops a solicitation with a hop limit below 255 (it crossed a router) or a bad checksum', () => {
    const ctx = ipv6Context();
    const bad = icmpv6(GUEST, solicitedNode('fd00::2'), [135, 0, 0, 0, 0, 0, 0, 0, ...ipv6Bytes('fd00::2')], { hopLimit: 64 });
    expect(ctx.exchange(bad)).toEqual([]);
    const flipped = neighborSolicitation(GUEST, 'fd00::2');
    flipped[flipped.length - 1] ^= 1;
    expect(ctx.exchange(flipped)).toEqual([]);
    expect(ctx.stack.stats.snapshot().drops).toMatchObject({ invalid_ndp: 1, bad_checksum: 1 });
  });

  it('a frame to an unknown guest address waits for our solicitation; the advertisement releases it', () => {
    const ctx = ipv6Context();
    const stack = ctx.stack;
    const guest = stack.addresses.parse('fd00::200');
    const output = stack.outputFor(guest);
    output.head.set([1, 2, 3, 4, 0, 8, 0, 0], output.l4Offset);
    stack.transmitter.beginWakeup();
    expect(output.send(stack.ipv6Gateway, guest, 17, 8, null)).toBe(false);
    stack.transmitter.endWakeup();
    const asked = ctx.link.take();
    expect(asked).toHaveLength(1);
    const ns = IPV6.decode(asked[0]);
    expect(ns).toMatchObject({ source: 'fe80::2', destination: solicitedNode('fd00::200'), hopLimit: 255, destinationMac: '33:33:ff:00:02:00', sourceMac: GATEWAY_MAC6 });
    expect(IPV6.icmpChecksumValid(ns)).toBe(true);
    expect(ns.payload[0]).toBe(135);
    expect(ipv6Text(ns.payload.subarray(8, 24))).toBe('fd00::200');
    expect(ndpOptions(ns.payload, 24).map((o) => [o.type, macOf(o.data)])).toEqual([[1, GATEWAY_MAC6]]);
    const guestMac = 0x0200_0000_0200;
    const na = icmpv6('fd00::200', 'fe80::2', [136, 0, 0, 0, 0x60, 0, 0, 0, ...ipv6Bytes('fd00::200'), 2, 1, 0x02, 0, 0, 0, 0x02, 0x00], { sourceMac: guestMac });
    const released = ctx.exchange(na);
    expect(released).toHaveLength(1);
    expect(IPV6.decode(released[0])).toMatchObject({ source: 'fd00::2', destination: 'fd00::200', protocol: 17, destinationMac: '02:00:00:00:02:00' });
    stack.addresses.release(guest);
  });
});

describe('router advertisements', () => {
  function checkAdvertisement(frame: Uint8Array, mtu: number, rdnss: boolean): void {
    const d = IPV6.decode(frame);
    expect(d).toMatchObject({ source: 'fe80::2', destination: 'ff02::1', protocol: 58, hopLimit: 255, sourceMac: GATEWAY_MAC6, destinationMac: '33:33:00:00:00:01' });
    expect(IPV6.icmpChecksumValid(d)).toBe(true);
    const ra = d.payload;
    const v = view(ra);
    expect([ra[0], ra[1], ra[4], ra[5]]).toEqual([134, 0, 64, 0]); // cur hop limit 64, M = O = 0
    expect(v.getUint16(6)).toBe(1800);
    expect([v.getUint32(8), v.getUint32(12)]).toEqual([0, 0]);
    const options = ndpOptions(ra, 16);
    expect(options.map((o) => o.type)).toEqual(rdnss ? [1, 3, 5, 25] : [1, 3, 5]);
    expect(macOf(options[0].data)).toBe(GATEWAY_MAC6);
    const prefix = view(options[1].data);
    expect([options[1].data[0], options[1].data[1], prefix.getUint32(2), prefix.getUint32(6)]).toEqual([64, 0xc0, 86400, 14400]);
    expect(ipv6Text(options[1].data.subarray(14, 30))).toBe('fd00::');
    expect(view(options[2].data).getUint32(2)).toBe(mtu);
    if (rdnss) {
      expect(view(options[3].data).getUint32(2)).toBe(1200);
      expect(ipv6Text(options[3].data.subarray(6, 22))).toBe('fd00::3');
    }
  }

  it('one at start, one on every solicitation, at once', () => {
    const ctx = createStackContext({ config: { ipv6: true }, start: false });
    ctx.stack.start();
    const first = ctx.link.take();
    expect(first).toHaveLength(1);
    checkAdvertisement(first[0], 1500, true);
    const out = ctx.exchange(routerSolicitation());
    expect(out).toHaveLength(1);
    checkAdvertisement(out[0], 1500, true);
  });

  it('carries our MTU, and no RDNSS under --disable-dns', () => {
    const ctx = createStackContext({ config: { ipv6: true, disableDns: true }, link: { mtu: 65520 } });
    ctx.link.take();
    checkAdvertisement(ctx.exchange(routerSolicitation('::'))[0], 65520, false);
  });

  it('periodically, every 200 to 600 s', () => {
    const ctx = ipv6Context();
    ctx.clock.advance(199_000);
    expect(ctx.link.take()).toEqual([]);
    ctx.clock.advance(401_000);
    const periodic = ctx.link.take();
    expect(periodic).toHaveLength(1);
    checkAdvertisement(periodic[0], 1500, true);
  });

  it('tcpdump reads the advertisement and the advertisement reply as we mean them', (ctx) => {
    requireOrSkip(ctx, tcpdumpPrerequisite());
    const c = ipv6Context();
    const frames = [...c.exchange(routerSolicitation()), ...c.exchange(neighborSolicitation(GUEST, 'fd00::3'))];
    const [ra, na] = tcpdumpDecode(frames);
    expect(ra).toMatch(/router advertisement/);
    expect(ra).toMatch(/hop limit 64, Flags \[none\].*router lifetime 1800s/s);
    expect(ra).toMatch(/prefix info option.*fd00::\/64, Flags \[onlink, auto\], valid time 86400s, pref\. time 14400s/s);
    expect(ra).toMatch(/mtu option.*1500/s);
    expect(ra).toMatch(/rdnss option.*lifetime 1200s, addr: fd00::3/s);
    expect(ra).toMatch(/icmp6 sum ok/);
    expect(na).toMatch(/neighbor advertisement, length 32, tgt is fd00::3, Flags \[router, solicited, override\]/);
    expect(na).toMatch(/52:56:00:00:00:03/);
  });
});

describe('echo to our addresses', () => {
  it.each([
    [GUEST, 'fd00::2'],
    [GUEST, 'fd00::3'],
    [GUEST_LL, 'fe80::2'],
    [GUEST_LL, 'fe80::3'],
  ])('from %s to %s: answered, identifier, sequence and data kept', (source, target) => {
    const ctx = ipv6Context({ disableHostLoopback: true });
    ctx.link.take();
    const out = ctx.exchange(echoRequest(source, target, 0x1234, 7, [1, 2, 3, 4, 5]));
    expect(out).toHaveLength(1);
    const d = IPV6.decode(out[0]);
    expect(d).toMatchObject({ source: target, destination: source, protocol: 58, destinationMac: '02:00:00:00:01:00' });
    expect(IPV6.icmpChecksumValid(d)).toBe(true);
    expect([...d.payload]).toEqual([129, 0, d.payload[2], d.payload[3], 0x12, 0x34, 0, 7, 1, 2, 3, 4, 5]);
  });

  it('a reply larger than the MTU goes out in fragments', () => {
    const ctx = ipv6Context({ mtu: 1280 });
    ctx.link.take();
    const data = Array.from({ length: 3000 }, (_, i) => i & 0xff);
    // The request itself arrives whole (a guest on a larger-MTU device, or TSO).
    const out = ctx.exchange(echoRequest(GUEST, 'fd00::2', 1, 1, data));
    expect(out.length).toBe(3);
    const parts = out.map((f) => IPV6.decode(f));
    for (const p of parts) {
      expect(p.protocol).toBe(44);
      expect(40 + p.payload.length).toBeLessThanOrEqual(1280);
    }
    const id = view(parts[0].payload).getUint32(4);
    let whole: number[] = [];
    parts.forEach((p, i) => {
      const field = view(p.payload).getUint16(2);
      expect(p.payload[0]).toBe(58);
      expect(view(p.payload).getUint32(4)).toBe(id);
      expect(field & ~7).toBe(whole.length);
      expect(field & 1).toBe(i < parts.length - 1 ? 1 : 0);
      whole = whole.concat([...p.payload.subarray(8)]);
    });
    expect(whole.length).toBe(8 + 3000);
    expect(whole.slice(8)).toEqual(data);
    expect(naiveChecksum(IPV6.pseudoHeader('fd00::2', GUEST, 58, whole.length), Uint8Array.from(whole))).toBe(0);
  });

  it('from a source outside fd00::/64 and link-local: dropped', () => {
    const ctx = ipv6Context();
    ctx.link.take();
    expect(ctx.exchange(echoRequest('2001:db8::1', 'fd00::2', 1, 1, []))).toEqual([]);
    expect(ctx.exchange(echoRequest('fd00::3', 'fd00::2', 1, 1, []))).toEqual([]);
    expect(ctx.stack.stats.snapshot().drops).toMatchObject({ bad_address: 2 });
  });
});

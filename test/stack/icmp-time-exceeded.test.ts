/**
 * The gateway's TTL / hop limit rule (issue 15), for both families at packet level: a datagram the
 * engine would carry on to another host arriving with TTL 1 (or anything with TTL 0, libslirp's own
 * check) is dropped (ttl_expired) and answered with time exceeded from the gateway (10.0.2.2 /
 * fe80::2), quoting the IPv4 header + 8 bytes or as much of the IPv6 packet as fits 1280 bytes;
 * TTL 1 to our own addresses is delivered; broadcast and multicast are never checked; no error about
 * an ICMP error, nor about a fragment other than the first; a fragmented datagram whose first
 * fragment came but which never completed gets time exceeded in reassembly (30 s / 60 s) from its
 * destination; errors are rate limited (50 at once, 1000 a second). Checked with the test support's independent decoders and naive checksums.
 */
import { describe, expect, it } from 'vitest';
import { IPV4, IPV6, type TestFamily } from '../support/ip-family.js';
import { naiveChecksum } from '../support/oracle.js';
import { createUdpContext, udpDatagram } from '../support/udp-context.js';

const FAMILIES = [IPV4, IPV6] as const;
const REMOTE = { 4: '192.0.2.7', 6: '2001:db8::7' } as const;
const TIME_EXCEEDED = { 4: [11, 0], 6: [3, 0] } as const;
const ERROR_SOURCE = { 4: '10.0.2.2', 6: 'fe80::2' } as const;

function setup(family: TestFamily) {
  const u = createUdpContext({ family });
  /** A guest UDP datagram to dst:port with this TTL / hop limit, as one frame. */
  const datagram = (dst: string, hopLimit: number, payload = 'probe', port = 33434): Uint8Array =>
    family.frame(family.guest, dst, 17, udpDatagram({ dst, dstPort: port, payload }, family), { hopLimit });
  const sentToHost = (): number => u.port.sockets.reduce((n, s) => n + s.sent.length, 0);
  return { u, datagram, sentToHost };
}

describe.each(FAMILIES)('time exceeded (IPv$version)', (family) => {
  const v = family.version;

  it('TTL 1 towards a host behind the gateway: dropped, time exceeded from the gateway quoting it', async () => {
    const { u, datagram, sentToHost } = setup(family);
    const frame = datagram(REMOTE[v], 1, 'x'.repeat(100));
    u.link.inject([frame]);
    const frames = await u.emitted();
    expect(frames).toHaveLength(1);
    const icmp = u.decodeIcmp(frames[0]); // checks the ICMP checksum (ICMPv6: over the pseudo-header)
    expect(icmp).toMatchObject({ src: ERROR_SOURCE[v], dst: family.guest, type: TIME_EXCEEDED[v][0], code: TIME_EXCEEDED[v][1], rest: 0 });
    const sent = frame.subarray(14);
    // IPv4: the header and 8 bytes (RFC 792); IPv6: the whole packet, it fits 1280 bytes.
    const quoted = v === 4 ? sent.subarray(0, 28) : sent;
    expect([...icmp.body]).toEqual([...quoted]);
    expect(sentToHost()).toBe(0);
    expect(u.drops('ttl_expired')).toBe(1);
    expect(u.stack.stats.snapshot()).toMatchObject({ icmpErrorsSent: 1, icmpErrorsRateLimited: 0 });
  });

  it('TTL 2 is carried on (the host socket sends it), and nothing comes back', async () => {
    const { u, datagram, sentToHost } = setup(family);
    u.link.inject([datagram(REMOTE[v], 2)]);
    expect(await u.emitted()).toHaveLength(0);
    expect(sentToHost()).toBe(1);
    expect(u.drops('ttl_expired')).toBe(0);
  });

  it('TTL 1 to the gateway itself is delivered; TTL 0 to it expires (libslirp checks TTL 0 for every destination)', async () => {
    const { u, datagram, sentToHost } = setup(family);
    u.link.inject([datagram(family.gateway, 1)]);
    expect(await u.emitted()).toHaveLength(0);
    expect(sentToHost()).toBe(1);
    u.link.inject([datagram(family.gateway, 0)]);
    const frames = await u.emitted();
    expect(frames).toHaveLength(1);
    expect(u.decodeIcmp(frames[0])).toMatchObject({ src: ERROR_SOURCE[v], type: TIME_EXCEEDED[v][0] });
    expect(sentToHost()).toBe(1);
  });

  it('broadcast and multicast are not checked (they stay on the link): no error, no ttl_expired', async () => {
    const { u, datagram } = setup(family);
    const destinations = v === 4 ? ['255.255.255.255', '10.0.2.255', '224.0.0.251'] : ['ff02::fb', 'ff02::1'];
    u.link.inject(destinations.map((d) => datagram(d, 1, 'mdns', 5353)));
    expect(await u.emitted()).toHaveLength(0);
    expect(u.drops('ttl_expired')).toBe(0);
  });

  it('an echo request with TTL 1 (ping -t 1) gets time exceeded; an ICMP error with TTL 1 gets nothing', async () => {
    const { u } = setup(family);
    const echo = Buffer.from([v === 4 ? 8 : 128, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4]);
    const unreachable = Buffer.concat([Buffer.from([v === 4 ? 3 : 1, v === 4 ? 3 : 4, 0, 0, 0, 0, 0, 0]), Buffer.alloc(v === 4 ? 28 : 48)]);
    for (const message of [echo, unreachable]) {
      const sum = v === 4 ? naiveChecksum(message) : naiveChecksum(Buffer.concat([family.pseudoHeader(family.guest, REMOTE[v], 58, message.length), message]));
      message.writeUInt16BE(sum, 2);
    }
    u.link.inject([family.frame(family.guest, REMOTE[v], family.icmpProtocol, echo, { hopLimit: 1 })]);
    const frames = await u.emitted();
    expect(frames).toHaveLength(1);
    const icmp = u.decodeIcmp(frames[0]);
    expect(icmp.type).toBe(TIME_EXCEEDED[v][0]);
    expect(icmp.body[family.ipHeaderLength]).toBe(v === 4 ? 8 : 128); // the echo request, quoted
    u.link.inject([family.frame(family.guest, REMOTE[v], family.icmpProtocol, unreachable, { hopLimit: 1 })]);
    expect(await u.emitted()).toHaveLength(0);
    expect(u.drops('ttl_expired')).toBe(2);
  });

  it('errors are rate limited: 50 at once, then 1000 a second (counted)', async () => {
    const { u, datagram } = setup(family);
    u.link.inject(Array.from({ length: 60 }, (_, i) => datagram(REMOTE[v], 1, `probe ${i}`)));
    expect(await u.emitted()).toHaveLength(50);
    expect(u.stack.stats.snapshot()).toMatchObject({ icmpErrorsSent: 50, icmpErrorsRateLimited: 10 });
    expect(u.drops('ttl_expired')).toBe(60);
    u.clock.advance(5); // 5 tokens back
    u.link.inject(Array.from({ length: 10 }, () => datagram(REMOTE[v], 1)));
    expect(await u.emitted()).toHaveLength(5);
    u.clock.advance(1000); // full again, never more than the burst
    u.link.inject(Array.from({ length: 60 }, () => datagram(REMOTE[v], 1)));
    expect(await u.emitted()).toHaveLength(50);
  });
});

describe('time exceeded: family specifics', () => {
  it('IPv4: only the first fragment of an expiring datagram is answered (RFC 1812 §4.3.2.7)', async () => {
    const { u } = setup(IPV4);
    const l4 = udpDatagram({ dst: REMOTE[4], dstPort: 9, payload: 'y'.repeat(40) });
    const first = IPV4.frame(IPV4.guest, REMOTE[4], 17, l4.subarray(0, 24), { hopLimit: 1, identification: 9, fragmentField: 0x2000 });
    const second = IPV4.frame(IPV4.guest, REMOTE[4], 17, l4.subarray(24), { hopLimit: 1, identification: 9, fragmentField: 3 });
    u.link.inject([second]);
    expect(await u.emitted()).toHaveLength(0);
    u.link.inject([first]);
    const frames = await u.emitted();
    expect(frames).toHaveLength(1);
    expect(u.decodeIcmp(frames[0]).body.subarray(0, 28).equals(first.subarray(14, 42))).toBe(true);
    expect(u.drops('ttl_expired')).toBe(2);
    expect(u.stack.stats.snapshot().drops.fragment_overlap).toBeUndefined(); // neither was held for reassembly
  });

  it('IPv4: a datagram whose first fragment came but not the rest: time exceeded in reassembly after 30 s, from its destination', async () => {
    const { u } = setup(IPV4);
    const l4 = udpDatagram({ dst: REMOTE[4], dstPort: 9, payload: 'y'.repeat(40) });
    const first = IPV4.frame(IPV4.guest, REMOTE[4], 17, l4.subarray(0, 24), { identification: 5, fragmentField: 0x2000 });
    const lonelyLast = IPV4.frame(IPV4.guest, REMOTE[4], 17, l4.subarray(24), { identification: 6, fragmentField: 3 });
    u.link.inject([first, lonelyLast]);
    expect(await u.emitted()).toHaveLength(0);
    u.clock.advance(29_999);
    expect(await u.emitted()).toHaveLength(0);
    u.clock.advance(1);
    const frames = await u.emitted();
    expect(frames).toHaveLength(1); // none about identification 6: its first fragment never came
    const icmp = u.decodeIcmp(frames[0]);
    expect(icmp).toMatchObject({ src: REMOTE[4], dst: IPV4.guest, type: 11, code: 1, rest: 0 });
    expect(icmp.body.equals(first.subarray(14, 14 + 28))).toBe(true);
  });

  it('IPv6: the same after 60 s (RFC 8200 §4.5), quoting the first fragment as it came', async () => {
    const { u } = setup(IPV6);
    const l4 = udpDatagram({ dst: REMOTE[6], dstPort: 9, payload: 'y'.repeat(40) }, IPV6);
    const fragment = Buffer.concat([Buffer.from([17, 0, 0, 1, 0, 0, 0, 9]), l4.subarray(0, 24)]); // offset 0, M
    const first = IPV6.frame(IPV6.guest, REMOTE[6], 44, fragment);
    u.link.inject([first]);
    u.clock.advance(59_999);
    expect(await u.emitted()).toHaveLength(0);
    u.clock.advance(1);
    const frames = await u.emitted();
    expect(frames).toHaveLength(1);
    const icmp = u.decodeIcmp(frames[0]);
    expect(icmp).toMatchObject({ src: REMOTE[6], dst: IPV6.guest, type: 3, code: 1, rest: 0 });
    expect(icmp.body.equals(first.subarray(14))).toBe(true);
  });

  it('IPv6: a packet larger than fits is quoted to 1232 bytes, the error exactly 1280', async () => {
    const { u, datagram } = setup(IPV6);
    const frame = datagram(REMOTE[6], 1, 'z'.repeat(1400));
    u.link.inject([frame]);
    const [error] = await u.emitted();
    expect(error.length - 14).toBe(1280);
    const icmp = u.decodeIcmp(error);
    expect(icmp.body.equals(frame.subarray(14, 14 + 1232))).toBe(true);
  });

  it('IPv6: hop limit 1 to fd00::3, fe80::2, fe80::3 (ours) is handled as hop limit 64 is, never expired', async () => {
    const { u, datagram } = setup(IPV6);
    for (const own of ['fd00::3', 'fe80::2', 'fe80::3']) {
      const answers: string[] = [];
      for (const hopLimit of [1, 64]) {
        u.link.inject([datagram(own, hopLimit, 'q', 9)]);
        answers.push((await u.emitted()).map((f) => { const icmp = u.decodeIcmp(f); return `${icmp.src} ${icmp.type}/${icmp.code}`; }).join());
      }
      expect(answers[0]).not.toBe('');
      expect(answers[0]).toBe(answers[1]);
    }
    expect(u.drops('ttl_expired')).toBe(0);
  });
});


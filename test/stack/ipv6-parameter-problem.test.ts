/**
 * What the Stack answers about headers it cannot take (issue 15), packet level: ICMPv6 Parameter
 * Problem as RFC 8200 §4 asks (an unrecognised Next Header: code 1 from the destination, pointer at
 * the byte naming it; an unrecognised option with action bits 10, or 11 to a unicast destination:
 * code 2 from fe80::2, pointer at the option, also about a multicast destination for 10; a misplaced
 * Hop-by-Hop header and a Routing header with segments left), nothing for No Next Header; ICMPv4
 * protocol unreachable for an unknown IPv4 protocol (not for broadcast); and group membership
 * reports from the guest (MLD, IGMP) taken silently (counted as such, not as drops). Frames are built
 * here from RFC 8200, RFC 3810 and RFC 3376; errors decoded by the test support's own decoders.
 */
import { describe, expect, it } from 'vitest';
import { IPV4, IPV6 } from '../support/ip-family.js';
import { naiveChecksum } from '../support/oracle.js';
import { createUdpContext, udpDatagram } from '../support/udp-context.js';

const GUEST = IPV6.guest;
const REMOTE = '2001:db8::7';

/** An ICMPv6 message with its checksum (over the pseudo-header to the final destination). */
function icmpv6(source: string, destination: string, message: number[]): Buffer {
  const m = Buffer.from(message);
  m.writeUInt16BE(naiveChecksum(IPV6.pseudoHeader(source, destination, 58, m.length), m), 2);
  return m;
}

/** An IGMP message with its checksum (RFC 3376 §4). */
function igmp(message: number[]): Uint8Array {
  const m = Buffer.from(message);
  m.writeUInt16BE(naiveChecksum(m), 2);
  return m;
}

/** An 8-byte options header (Hop-by-Hop or Destination Options) carrying one 6-byte option. */
function optionsHeader(next: number, option: number[]): number[] {
  return [next, 0, ...option];
}

function setup() {
  const u = createUdpContext({ family: IPV6 });
  const send = async (destination: string, nextHeader: number, payload: number[] | Uint8Array, hopLimit = 64) => {
    const frame = IPV6.frame(GUEST, destination, nextHeader, Uint8Array.from(payload), { hopLimit });
    u.link.inject([frame]);
    return { frame, frames: await u.emitted() };
  };
  return { u, send };
}

describe('ICMPv6 parameter problem (RFC 8200 §4)', () => {
  it('an unrecognised Next Header right after the fixed header: code 1 from the destination, pointer 6, the packet quoted', async () => {
    const { u, send } = setup();
    for (const destination of ['fd00::2', REMOTE]) {
      const { frame, frames } = await send(destination, 253, [1, 2, 3, 4, 5, 6, 7, 8]);
      expect(frames).toHaveLength(1);
      const icmp = u.decodeIcmp(frames[0]);
      expect(icmp).toMatchObject({ src: destination, dst: GUEST, type: 4, code: 1, rest: 6 });
      expect(icmp.body.equals(frame.subarray(14))).toBe(true);
    }
    expect(u.drops('unsupported_protocol')).toBe(2);
    expect(u.stack.stats.snapshot()).toMatchObject({ icmpErrorsSent: 2 });
  });

  it('after a Destination Options header the pointer is that header\'s Next Header byte (40)', async () => {
    const { u, send } = setup();
    const { frames } = await send(REMOTE, 60, [...optionsHeader(132, [1, 4, 0, 0, 0, 0]), 0, 0, 0, 0]);
    expect(u.decodeIcmp(frames[0])).toMatchObject({ src: REMOTE, type: 4, code: 1, rest: 40 });
  });

  it('No Next Header (59) is ignored without an answer', async () => {
    const { u, send } = setup();
    const { frames } = await send(REMOTE, 59, [0, 0, 0, 0]);
    expect(frames).toHaveLength(0);
    expect(u.stack.stats.snapshot().icmpErrorsSent).toBeUndefined();
  });

  it('an unrecognised option with action 10: code 2 from fe80::2 at the option, to multicast too', async () => {
    const { u, send } = setup();
    const packet = (to: string) => [...optionsHeader(17, [0x80, 4, 0, 0, 0, 0]), ...udpDatagram({ dst: to, dstPort: 9 }, IPV6)];
    for (const destination of [REMOTE, 'ff02::1']) {
      const { frame, frames } = await send(destination, 60, packet(destination));
      expect(frames).toHaveLength(1);
      const icmp = u.decodeIcmp(frames[0]);
      expect(icmp).toMatchObject({ src: 'fe80::2', dst: GUEST, type: 4, code: 2, rest: 42 });
      expect(icmp.body.equals(frame.subarray(14))).toBe(true);
    }
    expect(u.drops('bad_option')).toBe(2);
  });

  it('action 11: code 2 about a unicast destination, nothing about a multicast one; action 01: silent', async () => {
    const { u, send } = setup();
    expect((await send(REMOTE, 60, optionsHeader(59, [0xc2, 4, 0, 0, 0, 0]))).frames).toHaveLength(1);
    expect((await send('ff02::1', 60, optionsHeader(59, [0xc2, 4, 0, 0, 0, 0]))).frames).toHaveLength(0);
    expect((await send(REMOTE, 60, optionsHeader(59, [0x42, 4, 0, 0, 0, 0]))).frames).toHaveLength(0);
    expect(u.drops('bad_option')).toBe(3);
  });

  it('a Hop-by-Hop header after another header: code 1 at the Next Header byte naming it', async () => {
    const { u, send } = setup();
    const { frames } = await send(REMOTE, 60, [...optionsHeader(0, [1, 4, 0, 0, 0, 0]), ...optionsHeader(59, [1, 4, 0, 0, 0, 0])]);
    expect(u.decodeIcmp(frames[0])).toMatchObject({ src: 'fe80::2', type: 4, code: 1, rest: 40 });
  });

  it('a Routing header with segments left: code 0 at its type byte', async () => {
    const { u, send } = setup();
    const routing = [59, 2, 4, 1, 0, 0, 0, 0, ...new Array(16).fill(0)]; // type 4 (SRH-like), 1 segment left
    const { frames } = await send(REMOTE, 43, routing);
    expect(u.decodeIcmp(frames[0])).toMatchObject({ src: 'fe80::2', type: 4, code: 0, rest: 42 });
  });

  it('an ICMPv6 error inside an unknown header chain gets nothing back (RFC 4443 §2.4(e))', async () => {
    const { send } = setup();
    const error = icmpv6(GUEST, REMOTE, [1, 4, 0, 0, 0, 0, 0, 0]);
    expect((await send(REMOTE, 60, [...optionsHeader(58, [0x80, 4, 0, 0, 0, 0]), ...error])).frames).toHaveLength(0);
  });
});

describe('ICMPv4 protocol unreachable', () => {
  it('an unknown protocol gets 3/2 from the destination quoting header + 8 bytes; not about broadcast', async () => {
    const u = createUdpContext();
    const frame = IPV4.frame(IPV4.guest, '192.0.2.7', 132, Uint8Array.from({ length: 40 }, (_, i) => i));
    u.link.inject([frame]);
    const frames = await u.emitted();
    expect(frames).toHaveLength(1);
    const icmp = u.decodeIcmp(frames[0]);
    expect(icmp).toMatchObject({ src: '192.0.2.7', dst: IPV4.guest, type: 3, code: 2, rest: 0 });
    expect(icmp.body.equals(frame.subarray(14, 14 + 28))).toBe(true);
    u.link.inject([IPV4.frame(IPV4.guest, '10.0.2.255', 132, new Uint8Array(8)), IPV4.frame(IPV4.guest, '224.0.0.1', 253, new Uint8Array(8), { hopLimit: 1 })]);
    expect(await u.emitted()).toHaveLength(0);
    expect(u.drops('unsupported_protocol')).toBe(3);
  });
});

describe('group membership reports from the guest (MLD, IGMP)', () => {
  it('MLDv2 reports (Hop-by-Hop router alert, hop limit 1, from link-local or ::), v1 report and done: taken, counted, no drop', async () => {
    const { u } = setup();
    const routerAlert = [5, 2, 0, 0, 1, 0]; // Router Alert 0 (MLD) + PadN
    const frames: Uint8Array[] = [];
    const mld = (source: string, destination: string, message: number[]) =>
      IPV6.frame(source, destination, 0, Uint8Array.from([...optionsHeader(58, routerAlert), ...icmpv6(source, destination, message)]), { hopLimit: 1 });
    const v2Report = [143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, ...[0xff, 0x02, ...new Array(13).fill(0), 0xfb]];
    frames.push(mld('fe80::200:ff:fe00:100', 'ff02::16', v2Report));
    frames.push(mld('::', 'ff02::16', v2Report));
    frames.push(mld('fe80::200:ff:fe00:100', 'ff02::fb', [131, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x02, ...new Array(13).fill(0), 0xfb]));
    frames.push(mld('fe80::200:ff:fe00:100', 'ff02::2', [132, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x02, ...new Array(13).fill(0), 0xfb]));
    u.link.inject(frames);
    expect(await u.emitted()).toHaveLength(0);
    const stats = u.stack.stats.snapshot();
    expect(stats.drops).toEqual({});
    expect(stats.mldIn).toBe(4);
  });

  it('an IGMPv3 report to 224.0.0.22 and an IGMPv2 report (TTL 1): taken, counted, no drop', async () => {
    const u = createUdpContext();
    const v3 = IPV4.frame(IPV4.guest, '224.0.0.22', 2, igmp([0x22, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 224, 0, 0, 251]), { hopLimit: 1 });
    const v2 = IPV4.frame(IPV4.guest, '224.0.0.251', 2, igmp([0x16, 0, 0, 0, 224, 0, 0, 251]), { hopLimit: 1 });
    u.link.inject([v3, v2]);
    expect(await u.emitted()).toHaveLength(0);
    const stats = u.stack.stats.snapshot();
    expect(stats.drops).toEqual({});
    expect(stats.igmpIn).toBe(2);
  });
});

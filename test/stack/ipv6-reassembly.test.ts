/**
 * Reassembly of IPv6 fragments from the guest at packet level (issue 15): fragments in any order
 * make one UDP datagram for the host; overlaps discard the datagram (RFC 5722), duplicates are
 * ignored; a flood of fragments that never complete evicts the oldest incomplete datagrams, never a
 * newcomer; incomplete ones expire after 60 s; headers before the Fragment header are kept.
 * Fragments are built here from RFC 8200 §4.5, not by src/wire.
 */
import { describe, expect, it } from 'vitest';
import { IPV6 } from '../support/ip-family.js';
import { createUdpContext, udpDatagram } from '../support/udp-context.js';

const GUEST = IPV6.guest;

/** The UDP datagram (header + payload, checksum over the whole) the guest means to send. */
function datagram(payload: Buffer, dstPort = 7): Uint8Array {
  return udpDatagram({ dst: 'fd00::2', dstPort, srcPort: 5000, payload }, IPV6);
}

/** Fragment frames of l4 (protocol 17) cut at the given offsets (multiples of 8), identification id. */
function fragments(l4: Uint8Array, cuts: number[], id: number, before: number[] = []): Uint8Array[] {
  const bounds = [0, ...cuts, l4.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [start, end] = [bounds[i], bounds[i + 1]];
    const more = i + 2 < bounds.length;
    const fragment = Buffer.alloc(8 + end - start);
    fragment[0] = 17;
    fragment.writeUInt16BE(start | (more ? 1 : 0), 2);
    fragment.writeUInt32BE(id, 4);
    Buffer.from(l4.subarray(start, end)).copy(fragment, 8);
    if (before.length === 0) {
      out.push(IPV6.frame(GUEST, 'fd00::2', 44, fragment));
    } else {
      // A Destination Options header (PadN only) before the Fragment header: unfragmentable part.
      const options = Buffer.from([44, 0, 1, 4, 0, 0, 0, 0]);
      out.push(IPV6.frame(GUEST, 'fd00::2', 60, Buffer.concat([options, fragment])));
    }
  }
  return out;
}

function payloadOf(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 13) & 0xff));
}

describe('IPv6 fragments from the guest', () => {
  it('in any order, make one datagram for the host', () => {
    const u = createUdpContext({ family: IPV6 });
    const payload = payloadOf(4000);
    const frames = fragments(datagram(payload), [1448, 2896], 0x1234);
    expect(u.send()).toEqual([]);
    u.link.inject([frames[2], frames[0], frames[1]]);
    expect(u.port.sockets).toHaveLength(1);
    expect(Buffer.from(u.port.last.sent[0].payload).equals(payload)).toBe(true);
    expect(u.port.last.sent[0].destination).toEqual({ address: '::1', port: 7 });
  });

  it('keeps the headers before the Fragment header, and takes an atomic fragment as it is', () => {
    const u = createUdpContext({ family: IPV6 });
    const payload = payloadOf(3000);
    u.link.inject(fragments(datagram(payload), [1496], 7, [60]));
    expect(Buffer.from(u.port.last.sent[0].payload).equals(payload)).toBe(true);
    u.link.inject(fragments(datagram(Buffer.from('atomic'), 9), [], 8));
    expect(Buffer.from(u.port.last.sent[1].payload).toString()).toBe('atomic');
  });

  it('an overlap discards the datagram; a duplicate is ignored', () => {
    const u = createUdpContext({ family: IPV6 });
    const l4 = datagram(payloadOf(3000));
    const [a, b, c] = fragments(l4, [1000, 2000], 1);
    const [overlapping] = fragments(l4.subarray(0), [1008], 1).slice(1); // 1000..end overlaps b
    u.link.inject([a, overlapping]);
    u.link.inject([b, c]);
    expect(u.port.sockets).toHaveLength(0);
    expect(u.drops('fragment_overlap')).toBe(1);
    const again = fragments(l4, [1000, 2000], 2);
    u.link.inject([again[0], again[0], again[1], again[2]]);
    expect(u.port.last.sent).toHaveLength(1);
  });

  it('a flood of fragments that never complete evicts the oldest, and a real datagram still gets through', () => {
    const u = createUdpContext({ family: IPV6, config: { limits: { reassemblyBuffers: 4 } } });
    const l4 = datagram(payloadOf(3000));
    for (let id = 100; id < 140; id++) u.link.inject([fragments(l4, [1000], id)[0]]);
    u.link.inject(fragments(l4, [1000], 999));
    expect(u.port.last.sent).toHaveLength(1);
    expect(u.drops('reassembly_limit')).toBe(0);
  });

  it('an incomplete datagram is forgotten after 60 s', () => {
    const u = createUdpContext({ family: IPV6 });
    const l4 = datagram(payloadOf(3000));
    const [first, second] = fragments(l4, [1000], 5);
    u.link.inject([first]);
    u.clock.advance(61_000);
    u.link.inject([second]); // the first is gone: this one waits alone
    expect(u.port.sockets).toHaveLength(0);
    u.clock.advance(61_000);
    u.link.inject([first]); // and so is the second now
    expect(u.port.sockets).toHaveLength(0);
    u.link.inject([second]);
    expect(u.port.sockets).toHaveLength(1);
  });

  it('drops a non-last fragment whose length is not a multiple of 8', () => {
    const u = createUdpContext({ family: IPV6 });
    const l4 = datagram(payloadOf(3000));
    const [first] = fragments(l4, [1001], 6);
    u.link.inject([first]);
    expect(u.drops('bad_length')).toBe(1);
  });
});

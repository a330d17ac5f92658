/**
 * Every captured IPv6 frame, cut at every length and with every bit flipped, through the whole chain
 * of IPv6 views the engine will use: a DropReason every time, never a throw, never a read outside
 * the frame (reads past a Uint8Array give undefined, which would surface as NaN or a wrong verdict,
 * so the chain also checks that every offset it is given stays inside).
 */
import { describe, expect, test } from 'vitest';
import { DropReason } from '../../src/wire/drop-reason.js';
import { EtherType, EthernetFrame } from '../../src/wire/ethernet.js';
import { Icmpv6Packet } from '../../src/wire/icmpv6.js';
import { Ipv6NextHeader, Ipv6Packet } from '../../src/wire/ipv6.js';
import { Ipv6HeaderChain, walkIpv6Headers } from '../../src/wire/ipv6-extension-headers.js';
import { Ipv6FragmentHeader } from '../../src/wire/ipv6-fragment.js';
import { NdpMessage, NdpOptions, ndpFixedLength, validateNdp } from '../../src/wire/ndp.js';
import { parseTcpOptions, TcpOptions, TcpSegment } from '../../src/wire/tcp.js';
import { UdpPacket } from '../../src/wire/udp.js';
import * as captured from './captured-ipv6.js';

const ethernet = new EthernetFrame();
const ip = new Ipv6Packet();
const chain = new Ipv6HeaderChain();
const fragment = new Ipv6FragmentHeader();
const icmp = new Icmpv6Packet();
const ndp = new NdpMessage();
const ndpOptions = new NdpOptions();
const tcp = new TcpSegment();
const tcpOptions = new TcpOptions();
const udp = new UdpPacket();

/** Parses a frame as the IPv6 engine will, to the deepest layer; the first DropReason, or None. */
function parseFrame(frame: Uint8Array, length: number): DropReason {
  let r = ethernet.wrap(frame, 0, length);
  if (r !== DropReason.None) return r;
  if (ethernet.etherType !== EtherType.Ipv6) return DropReason.UnsupportedEtherType;
  r = ip.wrap(frame, ethernet.payloadOffset, ethernet.payloadLength);
  if (r !== DropReason.None) return r;
  r = walkIpv6Headers(ip, chain);
  expect(chain.length).toBeGreaterThanOrEqual(0);
  expect(chain.offset + chain.length).toBe(ip.offset + ip.length);
  if (r !== DropReason.None) return r;
  switch (chain.protocol) {
    case Ipv6NextHeader.Fragment:
      return fragment.wrap(frame, chain.offset, chain.length);
    case Ipv6NextHeader.Icmpv6: {
      r = icmp.wrap(frame, chain.offset, chain.length, ip.pseudoHeaderSum(58, chain.length));
      if (r !== DropReason.None) return r;
      if (ndpFixedLength(icmp.type) < 0) return DropReason.None;
      r = ndp.wrap(frame, chain.offset, chain.length);
      return r !== DropReason.None ? r : validateNdp(ip, ndp, ndpOptions);
    }
    case Ipv6NextHeader.Tcp:
      r = tcp.wrap(frame, chain.offset, chain.length);
      if (r !== DropReason.None) return r;
      r = parseTcpOptions(tcp, tcpOptions);
      if (r !== DropReason.None) return r;
      return tcp.verifyChecksumIpv6(frame, ip.sourceOffset, frame, ip.destinationOffset) ? DropReason.None : DropReason.BadChecksum;
    case Ipv6NextHeader.Udp:
      r = udp.wrap(frame, chain.offset, chain.length);
      if (r !== DropReason.None) return r;
      return udp.verifyChecksumIpv6(frame, ip.sourceOffset, frame, ip.destinationOffset) ? DropReason.None : DropReason.BadChecksum;
    default:
      return DropReason.UnsupportedProtocol;
  }
}

const frames: [string, Uint8Array][] = [];
for (const [name, value] of Object.entries(captured)) {
  // Frames are the fixtures with the IPv6 EtherType (not the payload pattern beside them).
  if (value instanceof Uint8Array && value[12] === 0x86 && value[13] === 0xdd) frames.push([name, value]);
  if (Array.isArray(value)) value.forEach((frame: Uint8Array, i) => frames.push([`${name}[${i}]`, frame]));
}

describe('IPv6 frame chain', () => {
  test('the fixtures are all here, and parse as what they are', () => {
    expect(frames.length).toBe(35);
    const verdicts = Object.fromEntries(frames.map(([name, frame]) => [name, DropReason[parseFrame(frame, frame.length)]]));
    for (const [name, verdict] of Object.entries(verdicts)) {
      const expected = name === 'VETH6_UNKNOWN_NEXT_HEADER' ? 'UnsupportedProtocol' : name === 'VETH6_UNKNOWN_DESTINATION_OPTION' ? 'BadOption' : 'None';
      expect(verdict, name).toBe(expected);
    }
  });

  test('cut at every length: a DropReason, never a throw', () => {
    for (const [name, frame] of frames) {
      for (let length = 0; length < frame.length; length++) {
        const reason = parseFrame(frame.subarray(0, length), length);
        expect(DropReason[reason], `${name} at ${length}`).toBeDefined();
        // The frame's own length claim is checked against the bytes present.
        if (length >= 14) expect(reason, `${name} at ${length}`).not.toBe(DropReason.None);
      }
    }
  });

  test('every bit flipped: a DropReason, never a throw', () => {
    let caught = 0;
    for (const [name, frame] of frames) {
      const copy = frame.slice();
      for (let bit = 0; bit < Math.min(frame.length, 200) * 8; bit++) {
        const mask = 0x80 >>> (bit & 7);
        copy[bit >>> 3] ^= mask;
        const reason = parseFrame(copy, copy.length);
        expect(DropReason[reason], `${name} bit ${bit}`).toBeDefined();
        if (reason !== DropReason.None) caught++;
        copy[bit >>> 3] ^= mask;
      }
    }
    expect(caught).toBeGreaterThan(10000);
  });
});

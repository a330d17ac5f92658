import { describe, expect, test } from 'vitest';
import { ArpPacket } from '../../src/wire/arp.js';
import { DhcpMessage } from '../../src/wire/dhcp.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { EtherType, EthernetFrame } from '../../src/wire/ethernet.js';
import { Icmpv4Packet } from '../../src/wire/icmpv4.js';
import { IpProtocol, Ipv4Packet } from '../../src/wire/ipv4.js';
import { parseTcpOptions, TcpOptions, TcpSegment } from '../../src/wire/tcp.js';
import { UdpPacket } from '../../src/wire/udp.js';
import * as captured from './captured.js';

// One view per layer, reused for every frame, as the engine does.
const ethernet = new EthernetFrame();
const arp = new ArpPacket();
const ip = new Ipv4Packet();
const icmp = new Icmpv4Packet();
const udp = new UdpPacket();
const tcp = new TcpSegment();
const options = new TcpOptions();
const dhcp = new DhcpMessage();

/**
 * Parses a frame the way the engine will, down to the deepest layer it understands. Returns the first
 * DropReason, or None. L4 checksums are not verified here (the loopback captures carry partial ones).
 */
function parseFrame(frame: Uint8Array, length: number): DropReason {
  let r = ethernet.wrap(frame, 0, length);
  if (r !== DropReason.None) return r;
  if (ethernet.etherType === EtherType.Arp) return arp.wrap(frame, ethernet.payloadOffset, ethernet.payloadLength);
  if (ethernet.etherType !== EtherType.Ipv4) return DropReason.UnsupportedEtherType;
  r = ip.wrap(frame, ethernet.payloadOffset, ethernet.payloadLength);
  if (r !== DropReason.None) return r;
  switch (ip.protocol) {
    case IpProtocol.Icmp:
      return icmp.wrap(frame, ip.payloadOffset, ip.payloadLength);
    case IpProtocol.Tcp:
      r = tcp.wrap(frame, ip.payloadOffset, ip.payloadLength);
      return r !== DropReason.None ? r : parseTcpOptions(tcp, options);
    case IpProtocol.Udp:
      r = udp.wrap(frame, ip.payloadOffset, ip.payloadLength);
      if (r !== DropReason.None) return r;
      if (udp.destinationPort === 67) return dhcp.wrap(frame, udp.payloadOffset, udp.payloadLength);
      return DropReason.None;
    default:
      return DropReason.UnsupportedProtocol;
  }
}

const FRAMES = Object.entries(captured).filter((entry): entry is [string, Uint8Array] => entry[1] instanceof Uint8Array);

describe('whole frames through every layer', () => {
  test.each(FRAMES)('%s parses cleanly', (_name, frame) => {
    expect(parseFrame(frame, frame.length)).toBe(DropReason.None);
  });

  test.each(FRAMES)('%s truncated at every length → a DropReason, never a throw', (_name, frame) => {
    for (let length = 0; length < frame.length; length++) {
      expect(parseFrame(frame, length), `length ${length}`).not.toBe(DropReason.None);
      expect(parseFrame(frame.subarray(0, length), frame.length)).toBe(DropReason.Truncated);
    }
  });

  test('every single-bit flip of every captured frame: never a throw, and accepted views stay inside the frame', () => {
    let accepted = 0;
    let dropped = 0;
    for (const [, original] of FRAMES) {
      for (let at = 0; at < original.length; at++) {
        for (let bit = 0; bit < 8; bit++) {
          const frame = original.slice();
          frame[at] ^= 1 << bit;
          const reason = parseFrame(frame, frame.length);
          if (reason !== DropReason.None) {
            dropped++;
            continue;
          }
          accepted++;
          if (ethernet.etherType === EtherType.Ipv4) {
            expect(ip.payloadOffset + ip.payloadLength).toBeLessThanOrEqual(frame.length);
            if (ip.protocol === IpProtocol.Tcp) expect(tcp.payloadOffset + tcp.payloadLength).toBeLessThanOrEqual(frame.length);
            if (ip.protocol === IpProtocol.Udp) expect(udp.payloadOffset + udp.payloadLength).toBeLessThanOrEqual(frame.length);
          }
        }
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
  });

  test('random frames never throw (seeded)', () => {
    const random = captured.seeded(1500);
    for (let round = 0; round < 20000; round++) {
      const frame = captured.randomBytes(random, (random() * 120) | 0);
      if (frame.length >= 24 && round % 2 === 0) {
        frame[12] = 0x08;
        frame[13] = 0x00;
        frame[14] = 0x45;
        frame[23] = [1, 6, 17][round % 3];
      }
      parseFrame(frame, frame.length);
    }
  });
});

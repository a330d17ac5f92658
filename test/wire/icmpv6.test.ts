import { describe, expect, test } from 'vitest';
import { readMac } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { EtherType, writeEthernetHeader } from '../../src/wire/ethernet.js';
import {
  fillIcmpv6Checksum,
  ICMPV6_ERROR_QUOTE_MAX,
  ICMPV6_HEADER_LENGTH,
  icmpv6ErrorAllowed,
  icmpv6ErrorQuoteLength,
  Icmpv6Packet,
  Icmpv6ParameterProblemCode,
  Icmpv6TimeExceededCode,
  Icmpv6Type,
  Icmpv6UnreachableCode,
  writeIcmpv6Echo,
  writeIcmpv6Error,
} from '../../src/wire/icmpv6.js';
import { parseIpv6 } from '../../src/wire/ipv6-address.js';
import { IPV6_MIN_MTU, ipv6HeaderPseudoSum, Ipv6Packet, writeIpv6Header } from '../../src/wire/ipv6.js';
import { Ipv6HeaderChain, walkIpv6Headers } from '../../src/wire/ipv6-extension-headers.js';
import { requireOrSkip } from '../support/netns.js';
import { naiveChecksum } from '../support/oracle.js';
import { randomBytes, seeded, toHex } from './captured.js';
import {
  FRAGMENTED_UDP_PAYLOAD,
  SLIRP_ECHO_REPLY,
  SLIRP_ECHO_REQUEST,
  VETH6_BIG_ECHO_REQUEST,
  VETH6_DAD_NS,
  VETH6_ECHO_REPLY,
  VETH6_ECHO_REQUEST,
  VETH6_FRAGMENTED_PORT_UNREACHABLE,
  VETH6_FRAGMENTS,
  VETH6_HOP_BY_HOP_PORT_UNREACHABLE,
  VETH6_HOP_BY_HOP_UDP,
  VETH6_HOP_LIMIT_1_ECHO,
  VETH6_MLD_REPORT,
  VETH6_PACKET_TOO_BIG,
  VETH6_PARAMETER_PROBLEM_NEXT_HEADER,
  VETH6_PARAMETER_PROBLEM_OPTION,
  VETH6_PORT_UNREACHABLE,
  VETH6_TIME_EXCEEDED,
  VETH6_UDP,
  VETH6_UNKNOWN_DESTINATION_OPTION,
  VETH6_UNKNOWN_NEXT_HEADER,
} from './captured-ipv6.js';
import { tcpdumpDecode, tcpdumpPrerequisite } from './tcpdump-oracle.js';

const ip = new Ipv6Packet();
const icmp = new Icmpv6Packet();
const chain = new Ipv6HeaderChain();

function wrapIcmp(frame: Uint8Array): Icmpv6Packet {
  expect(ip.wrap(frame, 14, frame.length - 14)).toBe(DropReason.None);
  expect(walkIpv6Headers(ip, chain)).toBe(DropReason.None);
  expect(icmp.wrap(frame, chain.offset, chain.length, ip.pseudoHeaderSum(58, chain.length))).toBe(DropReason.None);
  return icmp;
}

/**
 * A frame with the Ethernet and IPv6 header values of `like` (MACs, flow label, hop limit, addresses)
 * and an ICMPv6 message written by `write` at 54 (returning its end), checksum filled.
 */
function rebuild(like: Uint8Array, write: (buf: Uint8Array, at: number) => number, size = like.length): Uint8Array {
  const view = new Ipv6Packet();
  expect(view.wrap(like, 14, like.length - 14)).toBe(DropReason.None);
  const buf = new Uint8Array(size);
  writeEthernetHeader(buf, 0, readMac(like, 0), readMac(like, 6), EtherType.Ipv6);
  const length = write(buf, 54) - 54;
  writeIpv6Header(buf, 14, like, view.sourceOffset, like, view.destinationOffset, 58, length, view.hopLimit, view.trafficClass, view.flowLabel);
  fillIcmpv6Checksum(buf, 54, length, ipv6HeaderPseudoSum(buf, 14, 58, length));
  return buf;
}

/** Builds the error `type/code/parameter` about the IPv6 packet in `original` (from offset 14) as `like` carries it. */
function rebuildError(like: Uint8Array, type: number, code: number, parameter: number, original: Uint8Array): Uint8Array {
  const quote = icmpv6ErrorQuoteLength(original.length - 14);
  return rebuild(like, (buf, at) => writeIcmpv6Error(buf, at, type, code, parameter, original, 14, quote));
}

describe('ICMPv6 view', () => {
  test('deconstruct: echo request and reply (kernel and slirp4netns)', () => {
    wrapIcmp(VETH6_ECHO_REQUEST);
    expect([icmp.type, icmp.code, icmp.checksum, icmp.identifier, icmp.sequence, icmp.isError]).toEqual([128, 0, 0x32bc, 20977, 1, false]);
    expect([icmp.dataOffset, icmp.dataLength]).toEqual([62, 12]);
    wrapIcmp(VETH6_ECHO_REPLY);
    expect([icmp.type, icmp.identifier, icmp.sequence]).toEqual([129, 20977, 1]);
    wrapIcmp(SLIRP_ECHO_REPLY);
    expect([icmp.type, icmp.identifier, icmp.sequence, icmp.dataLength]).toEqual([129, 22033, 1, 12]);
  });

  test('deconstruct: the kernel\'s errors and what they quote', () => {
    const cases: [Uint8Array, number, number, number, number][] = [
      // frame, type, code, 32-bit parameter, quoted length
      [VETH6_TIME_EXCEEDED, Icmpv6Type.TimeExceeded, Icmpv6TimeExceededCode.HopLimitExceeded, 0, 104],
      [VETH6_PACKET_TOO_BIG, Icmpv6Type.PacketTooBig, 0, 1280, 1232],
      [VETH6_PORT_UNREACHABLE, Icmpv6Type.DestinationUnreachable, Icmpv6UnreachableCode.PortUnreachable, 0, 53],
      [VETH6_FRAGMENTED_PORT_UNREACHABLE, Icmpv6Type.DestinationUnreachable, Icmpv6UnreachableCode.PortUnreachable, 0, 1232],
      [VETH6_PARAMETER_PROBLEM_NEXT_HEADER, Icmpv6Type.ParameterProblem, Icmpv6ParameterProblemCode.UnrecognizedNextHeader, 6, 48],
      [VETH6_PARAMETER_PROBLEM_OPTION, Icmpv6Type.ParameterProblem, Icmpv6ParameterProblemCode.UnrecognizedOption, 42, 59],
    ];
    for (const [frame, type, code, parameter, quoted] of cases) {
      wrapIcmp(frame);
      expect([icmp.type, icmp.code, icmp.mtu, icmp.pointer, icmp.isError, icmp.dataLength]).toEqual([type, code, parameter, parameter, true, quoted]);
      // The quote starts with the invoking packet's IPv6 header.
      const quotedIp = new Ipv6Packet();
      // Whole when it fits; cut at 1232 bytes, its payload length then says more than is there.
      expect(quotedIp.wrap(frame, icmp.dataOffset, icmp.dataLength)).toBe(quoted < ICMPV6_ERROR_QUOTE_MAX ? DropReason.None : DropReason.Truncated);
      expect(frame[icmp.dataOffset] >>> 4).toBe(6);
    }
  });

  test('checksum: a flipped bit anywhere in the message or the addresses → BadChecksum (not when told not to verify)', () => {
    for (const frame of [VETH6_ECHO_REQUEST, SLIRP_ECHO_REPLY, VETH6_PORT_UNREACHABLE]) {
      const length = frame.length - 54;
      for (let at = 22; at < frame.length; at++) {
        const b = frame.slice();
        b[at] ^= 0x08;
        expect(ip.wrap(b, 14, b.length - 14)).toBe(DropReason.None);
        expect(icmp.wrap(b, 54, length, ip.pseudoHeaderSum(58, length)), `byte ${at}`).toBe(DropReason.BadChecksum);
        expect(icmp.wrap(b, 54, length, null)).toBe(DropReason.None);
      }
    }
  });

  test('truncated at every length → Truncated below 8 bytes, BadChecksum above, never a throw', () => {
    expect(ip.wrap(VETH6_ECHO_REQUEST, 14, 60)).toBe(DropReason.None);
    for (let length = 0; length < 20; length++) {
      const reason = icmp.wrap(VETH6_ECHO_REQUEST, 54, length, ip.pseudoHeaderSum(58, length));
      expect(reason).toBe(length < ICMPV6_HEADER_LENGTH ? DropReason.Truncated : DropReason.BadChecksum);
      expect(icmp.wrap(VETH6_ECHO_REQUEST.subarray(0, 54 + length), 54, 20, null)).toBe(DropReason.Truncated);
    }
  });
});

describe('ICMPv6 writers', () => {
  test('construct: the kernel\'s echo reply, and slirp4netns\'s with the data in another buffer', () => {
    const reply = rebuild(VETH6_ECHO_REPLY, (buf, at) => writeIcmpv6Echo(buf, at, Icmpv6Type.EchoReply, 20977, 1) + 12);
    expect(toHex(reply)).toBe(toHex(VETH6_ECHO_REPLY));
    const data = SLIRP_ECHO_REQUEST.subarray(62);
    const buf = new Uint8Array(74);
    writeEthernetHeader(buf, 0, readMac(SLIRP_ECHO_REPLY, 0), readMac(SLIRP_ECHO_REPLY, 6), EtherType.Ipv6);
    writeIpv6Header(buf, 14, SLIRP_ECHO_REQUEST, 38, SLIRP_ECHO_REQUEST, 22, 58, 20, 255);
    expect(writeIcmpv6Echo(buf, 54, Icmpv6Type.EchoReply, 22033, 1)).toBe(62);
    fillIcmpv6Checksum(buf, 54, 8, ipv6HeaderPseudoSum(buf, 14, 58, 20), data);
    buf.set(data, 62);
    expect(toHex(buf)).toBe(toHex(SLIRP_ECHO_REPLY));
  });

  test('construct: the kernel\'s time exceeded, port unreachable and parameter problems, byte for byte', () => {
    expect(toHex(rebuildError(VETH6_TIME_EXCEEDED, 3, 0, 0, VETH6_HOP_LIMIT_1_ECHO))).toBe(toHex(VETH6_TIME_EXCEEDED));
    expect(toHex(rebuildError(VETH6_PORT_UNREACHABLE, 1, 4, 0, VETH6_UDP))).toBe(toHex(VETH6_PORT_UNREACHABLE));
    expect(toHex(rebuildError(VETH6_HOP_BY_HOP_PORT_UNREACHABLE, 1, 4, 0, VETH6_HOP_BY_HOP_UDP))).toBe(toHex(VETH6_HOP_BY_HOP_PORT_UNREACHABLE));
    expect(toHex(rebuildError(VETH6_PARAMETER_PROBLEM_NEXT_HEADER, 4, 1, 6, VETH6_UNKNOWN_NEXT_HEADER))).toBe(toHex(VETH6_PARAMETER_PROBLEM_NEXT_HEADER));
    expect(toHex(rebuildError(VETH6_PARAMETER_PROBLEM_OPTION, 4, 2, 42, VETH6_UNKNOWN_DESTINATION_OPTION))).toBe(toHex(VETH6_PARAMETER_PROBLEM_OPTION));
  });

  test('construct: packet too big quotes 1232 bytes so the error is exactly 1280 (RFC 4443 §2.4(c))', () => {
    const ptb = rebuildError(VETH6_PACKET_TOO_BIG, 2, 0, 1280, VETH6_BIG_ECHO_REQUEST);
    expect(toHex(ptb)).toBe(toHex(VETH6_PACKET_TOO_BIG));
    expect(ptb.length - 14).toBe(IPV6_MIN_MTU);
  });

  test('construct: port unreachable for a reassembled datagram, as Linux quotes it', () => {
    // The packet the kernel delivered after reassembly: the first fragment's header without the
    // Fragment header, Next Header UDP, payload length 3008.
    const reassembled = new Uint8Array(14 + 40 + 3008);
    reassembled.set(VETH6_FRAGMENTS[0].subarray(0, 54));
    reassembled[20] = 17;
    reassembled[18] = 3008 >>> 8;
    reassembled[19] = 3008 & 0xff;
    reassembled.set(VETH6_FRAGMENTS[0].subarray(62, 70), 54);
    reassembled.set(FRAGMENTED_UDP_PAYLOAD, 62);
    expect(toHex(rebuildError(VETH6_FRAGMENTED_PORT_UNREACHABLE, 1, 4, 0, reassembled))).toBe(toHex(VETH6_FRAGMENTED_PORT_UNREACHABLE));
  });

  test('quote length: the whole packet up to 1232 bytes', () => {
    expect(ICMPV6_ERROR_QUOTE_MAX).toBe(1232);
    expect([icmpv6ErrorQuoteLength(40), icmpv6ErrorQuoteLength(1231), icmpv6ErrorQuoteLength(1232), icmpv6ErrorQuoteLength(1233), icmpv6ErrorQuoteLength(65575)]).toEqual([
      40, 1231, 1232, 1232, 1232,
    ]);
  });

  test('an error may quote from the buffer it is written into, even overlapping', () => {
    const original = VETH6_UDP.subarray(14);
    for (const [from, to] of [[0, 4], [20, 0], [0, 0], [8, 8]]) {
      const buf = new Uint8Array(120);
      buf.set(original, from);
      const end = writeIcmpv6Error(buf, to, 1, 4, 0, buf, from, original.length);
      expect(end).toBe(to + 8 + original.length);
      expect(toHex(buf.subarray(to + 8, end)), `${from}→${to}`).toBe(toHex(original));
    }
  });

  test('odd-length data: the checksum pads with zero, and agrees with a naive sum', () => {
    const random = seeded(4443);
    const src = parseIpv6('fd00::2')!;
    const dst = parseIpv6('fd00::100')!;
    for (let length = 0; length < 40; length++) {
      const data = randomBytes(random, length);
      const buf = new Uint8Array(48 + length);
      writeIpv6Header(buf, 0, src, 0, dst, 0, 58, 8 + length);
      writeIcmpv6Echo(buf, 40, Icmpv6Type.EchoRequest, length, 0xffff);
      buf.set(data, 48);
      fillIcmpv6Checksum(buf, 40, 8 + length, ipv6HeaderPseudoSum(buf, 0, 58, 8 + length));
      const pseudo = new Uint8Array(40);
      pseudo.set(buf.subarray(8, 40));
      pseudo.set([0, 0, 0, 8 + length, 0, 0, 0, 58], 32);
      expect(naiveChecksum(pseudo, buf.subarray(40))).toBe(0);
      expect(ip.wrap(buf, 0, buf.length)).toBe(DropReason.None);
      expect(icmp.wrap(buf, 40, 8 + length, ip.pseudoHeaderSum(58, 8 + length))).toBe(DropReason.None);
    }
  });

  test('cross-check: tcpdump decodes what we build, and verifies every checksum', (ctx) => {
    requireOrSkip(ctx, tcpdumpPrerequisite());
    const random = seeded(58);
    const frames: Uint8Array[] = [];
    const expected: string[] = [];
    for (let round = 0; round < 20; round++) {
      const data = randomBytes(random, (random() * 300) | 0);
      const echo = rebuild(
        VETH6_ECHO_REPLY,
        (buf, at) => {
          const end = writeIcmpv6Echo(buf, at, round & 1 ? Icmpv6Type.EchoReply : Icmpv6Type.EchoRequest, round * 7, round * 3);
          buf.set(data, end);
          return end + data.length;
        },
        54 + 8 + data.length,
      );
      frames.push(echo);
      expected.push(`ICMP6, echo ${round & 1 ? 'reply' : 'request'}, id ${round * 7}, seq ${round * 3}`);
    }
    frames.push(rebuildError(VETH6_PACKET_TOO_BIG, 2, 0, 1280, VETH6_BIG_ECHO_REQUEST));
    expected.push('ICMP6, packet too big, mtu 1280');
    frames.push(rebuildError(VETH6_TIME_EXCEEDED, 3, 1, 0, VETH6_HOP_LIMIT_1_ECHO));
    expected.push('ICMP6, time exceeded in-transit (reassembly)');
    frames.push(rebuildError(VETH6_PORT_UNREACHABLE, 1, 4, 0, VETH6_UDP));
    expected.push('ICMP6, destination unreachable, unreachable port, fd00::1 udp port 47002');
    frames.push(rebuildError(VETH6_PORT_UNREACHABLE, 1, 1, 0, VETH6_UDP));
    expected.push('ICMP6, destination unreachable, unreachable prohibited fd00::1');
    frames.push(rebuildError(VETH6_PARAMETER_PROBLEM_NEXT_HEADER, 4, 1, 6, VETH6_UNKNOWN_NEXT_HEADER));
    expected.push('ICMP6, parameter problem, next header - octet 6');
    frames.push(rebuildError(VETH6_PARAMETER_PROBLEM_OPTION, 4, 2, 42, VETH6_UNKNOWN_DESTINATION_OPTION));
    expected.push('ICMP6, parameter problem, option - octet 42');
    frames.push(rebuildError(VETH6_PARAMETER_PROBLEM_OPTION, 4, 0, 4, VETH6_UNKNOWN_DESTINATION_OPTION));
    expected.push('ICMP6, parameter problem, erroneous - octet 4');
    const decoded = tcpdumpDecode(frames);
    decoded.forEach((text, i) => {
      expect(text, text).toContain('[icmp6 sum ok]');
      expect(text).toContain(expected[i]);
    });
    // And tcpdump notices a wrong checksum, so "sum ok" above means something.
    const bad = frames[0].slice();
    bad[56] ^= 1;
    expect(tcpdumpDecode([bad])[0]).toMatch(/bad icmp6 cksum/);
  });
});

describe('when an ICMPv6 error may be sent (RFC 4443 §2.4(e))', () => {
  function allowed(frame: Uint8Array, type: number, code: number, linkLayerMulticast = false): boolean {
    expect(ip.wrap(frame, 14, frame.length - 14)).toBe(DropReason.None);
    walkIpv6Headers(ip, chain);
    return icmpv6ErrorAllowed(type, code, ip, chain, linkLayerMulticast);
  }

  test('about ordinary unicast packets: yes', () => {
    expect(allowed(VETH6_UDP, 1, 4)).toBe(true);
    expect(allowed(VETH6_ECHO_REQUEST, 3, 0)).toBe(true);
    expect(allowed(VETH6_HOP_BY_HOP_UDP, 1, 4)).toBe(true);
    expect(allowed(VETH6_UNKNOWN_NEXT_HEADER, 4, 1)).toBe(true);
  });

  test('about an ICMPv6 error: never', () => {
    for (const frame of [VETH6_TIME_EXCEEDED, VETH6_PORT_UNREACHABLE, VETH6_PACKET_TOO_BIG, VETH6_PARAMETER_PROBLEM_OPTION]) {
      expect(allowed(frame, 1, 4)).toBe(false);
      expect(allowed(frame, 2, 0)).toBe(false);
    }
  });

  test('about a redirect: never', () => {
    const redirect = VETH6_ECHO_REQUEST.slice();
    redirect[54] = Icmpv6Type.Redirect;
    expect(allowed(redirect, 1, 0)).toBe(false);
  });

  test('about a packet to a multicast address (IPv6 or link layer): only packet too big and unrecognized option', () => {
    // VETH6_MLD_REPORT goes to ff02::16.
    expect(allowed(VETH6_MLD_REPORT, 1, 4)).toBe(false);
    expect(allowed(VETH6_MLD_REPORT, 3, 0)).toBe(false);
    expect(allowed(VETH6_MLD_REPORT, 4, 0)).toBe(false);
    expect(allowed(VETH6_MLD_REPORT, 2, 0)).toBe(true);
    expect(allowed(VETH6_MLD_REPORT, 4, 2)).toBe(true);
    expect(allowed(VETH6_UDP, 1, 4, true)).toBe(false);
    expect(allowed(VETH6_UDP, 2, 0, true)).toBe(true);
    expect(allowed(VETH6_UDP, 4, 2, true)).toBe(true);
  });

  test('to a source that is not one node (unspecified, multicast): never', () => {
    expect(allowed(VETH6_DAD_NS, 2, 0)).toBe(false);
    const fromMulticast = VETH6_UDP.slice();
    fromMulticast[22] = 0xff;
    expect(allowed(fromMulticast, 1, 4)).toBe(false);
  });

  test('fragments: an ICMPv6 error in a first fragment is seen through the Fragment header', () => {
    expect(allowed(VETH6_FRAGMENTS[0], 3, 1)).toBe(true); // UDP inside
    const icmpFirst = VETH6_FRAGMENTS[0].slice();
    icmpFirst[54] = 58;
    icmpFirst[62] = Icmpv6Type.DestinationUnreachable;
    expect(allowed(icmpFirst, 3, 1)).toBe(false);
    icmpFirst[62] = Icmpv6Type.EchoRequest;
    expect(allowed(icmpFirst, 3, 1)).toBe(true);
    const icmpLater = VETH6_FRAGMENTS[1].slice();
    icmpLater[54] = 58;
    icmpLater[62] = Icmpv6Type.DestinationUnreachable; // data, not a type: a later fragment has no header
    expect(allowed(icmpLater, 3, 1)).toBe(true);
  });

  test('after a failed walk, the headers past the one in error are skipped to find an ICMPv6 error', () => {
    // The captured unknown option (action 10) carries UDP: a problem may be reported.
    expect(allowed(VETH6_UNKNOWN_DESTINATION_OPTION, 4, 2)).toBe(true);
    // The same header carrying an ICMPv6 error (type 1) or an echo request (type 128) instead.
    const carrying = (type: number): Uint8Array => {
      const frame = VETH6_UNKNOWN_DESTINATION_OPTION.slice();
      frame[54] = 58;
      frame[62] = type;
      return frame;
    };
    expect(allowed(carrying(Icmpv6Type.DestinationUnreachable), 4, 2)).toBe(false);
    expect(allowed(carrying(Icmpv6Type.EchoRequest), 4, 2)).toBe(true);
  });

  test('an ICMPv6 packet with no message at all: say nothing', () => {
    const empty = new Uint8Array(54);
    empty.set(VETH6_UDP.subarray(0, 54));
    empty[18] = 0;
    empty[19] = 0;
    empty[20] = 58;
    expect(allowed(empty, 4, 0)).toBe(false);
  });
});

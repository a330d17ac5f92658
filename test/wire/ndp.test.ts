import { describe, expect, test } from 'vitest';
import { formatMac, readMac } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { EtherType, writeEthernetHeader } from '../../src/wire/ethernet.js';
import { fillIcmpv6Checksum, Icmpv6Packet, Icmpv6Type } from '../../src/wire/icmpv6.js';
import {
  formatIpv6,
  IPV6_ALL_NODES,
  ipv6MulticastMac,
  parseIpv6,
  writeIpv6Prefix,
  writeLinkLocalFromMac,
  writeSolicitedNodeMulticast,
} from '../../src/wire/ipv6-address.js';
import { ipv6HeaderPseudoSum, Ipv6Packet, writeIpv6Header } from '../../src/wire/ipv6.js';
import {
  NDP_HOP_LIMIT,
  NDP_INFINITE_LIFETIME,
  NDP_NA_OVERRIDE,
  NDP_NA_ROUTER,
  NDP_NA_SOLICITED,
  NDP_PREFIX_AUTONOMOUS,
  NDP_PREFIX_ON_LINK,
  NDP_RA_MANAGED,
  NDP_RA_OTHER,
  NdpMessage,
  NdpOptionReader,
  NdpOptions,
  NdpOptionType,
  parseNdpOptions,
  validateNdp,
  writeLinkLayerAddressOption,
  writeMtuOption,
  writeNeighborAdvertisement,
  writeNeighborSolicitation,
  writePrefixInformationOption,
  writeRdnssOption,
  writeRouterAdvertisement,
  writeRouterSolicitation,
} from '../../src/wire/ndp.js';
import { requireOrSkip } from '../support/netns.js';
import { hex, seeded, toHex } from './captured.js';
import {
  GUEST6_MAC,
  RADVD_RA,
  ROUTER6_MAC,
  SLIRP_GATEWAY_MAC,
  SLIRP_GUEST_MAC,
  SLIRP_NA,
  SLIRP_NS,
  SLIRP_RA,
  SLIRP_RS,
  VETH6_DAD_NS,
  VETH6_NA,
  VETH6_NS,
  VETH6_RS,
} from './captured-ipv6.js';
import { tcpdumpDecode, tcpdumpPrerequisite } from './tcpdump-oracle.js';

const ip = new Ipv6Packet();
const icmp = new Icmpv6Packet();
const ndp = new NdpMessage();
const options = new NdpOptions();

const NDP_FIXTURES = { VETH6_RS, VETH6_DAD_NS, VETH6_NS, VETH6_NA, RADVD_RA, SLIRP_RS, SLIRP_RA, SLIRP_NS, SLIRP_NA };

function addr(text: string): Uint8Array {
  return parseIpv6(text)!;
}

/** Wraps IPv6, ICMPv6 (checksum verified) and NDP; returns validateNdp's verdict. */
function parse(frame: Uint8Array, verifyChecksum = true): DropReason {
  let r = ip.wrap(frame, 14, frame.length - 14);
  if (r !== DropReason.None) return r;
  if (ip.nextHeader !== 58) return DropReason.UnsupportedProtocol;
  r = icmp.wrap(frame, ip.payloadOffset, ip.payloadLength, verifyChecksum ? ip.pseudoHeaderSum(58, ip.payloadLength) : null);
  if (r !== DropReason.None) return r;
  r = ndp.wrap(frame, ip.payloadOffset, ip.payloadLength);
  if (r !== DropReason.None) return r;
  return validateNdp(ip, ndp, options);
}

/** Every option of the wrapped message as [type, length]. */
function optionList(): [number, number][] {
  const reader = new NdpOptionReader();
  reader.start(ndp);
  const out: [number, number][] = [];
  while (reader.next()) out.push([reader.type, reader.length]);
  expect(reader.reason).toBe(DropReason.None);
  return out;
}

/**
 * A frame like `like` (Ethernet and IPv6 header values) whose NDP message `write` builds at 54
 * (returning its end), checksum filled.
 */
function rebuild(like: Uint8Array, write: (buf: Uint8Array, at: number) => number): Uint8Array {
  const view = new Ipv6Packet();
  expect(view.wrap(like, 14, like.length - 14)).toBe(DropReason.None);
  const buf = new Uint8Array(like.length);
  writeEthernetHeader(buf, 0, readMac(like, 0), readMac(like, 6), EtherType.Ipv6);
  const length = write(buf, 54) - 54;
  writeIpv6Header(buf, 14, like, view.sourceOffset, like, view.destinationOffset, 58, length, view.hopLimit, view.trafficClass, view.flowLabel);
  fillIcmpv6Checksum(buf, 54, length, ipv6HeaderPseudoSum(buf, 14, 58, length));
  return buf;
}

describe('NDP messages: captured frames', () => {
  test('every captured NDP message is valid (RFC 4861 §6.1, §7.1)', () => {
    for (const [name, frame] of Object.entries(NDP_FIXTURES)) expect(parse(frame), name).toBe(DropReason.None);
  });

  test('router solicitation: the kernel\'s, with its source link-layer address', () => {
    expect(parse(VETH6_RS)).toBe(DropReason.None);
    expect([ndp.type, ndp.code, ndp.optionsOffset, ndp.optionsEnd]).toEqual([Icmpv6Type.RouterSolicitation, 0, 62, 70]);
    expect([options.sourceLinkLayerAddress, options.targetLinkLayerAddress, options.mtu, options.prefixCount]).toEqual([GUEST6_MAC, -1, -1, 0]);
    expect(parse(SLIRP_RS)).toBe(DropReason.None);
    expect(options.sourceLinkLayerAddress).toBe(SLIRP_GUEST_MAC);
  });

  test('neighbor solicitation for address resolution, and for duplicate address detection (nonce, no SLLA)', () => {
    expect(parse(VETH6_NS)).toBe(DropReason.None);
    expect([ndp.type, formatIpv6(ndp.bytes, ndp.targetOffset), options.sourceLinkLayerAddress]).toEqual([135, 'fd00::1', GUEST6_MAC]);
    expect(parse(VETH6_DAD_NS)).toBe(DropReason.None);
    expect([formatIpv6(ndp.bytes, ndp.targetOffset), options.sourceLinkLayerAddress, options.nonceOffset]).toEqual(['fd00::100', -1, 54 + 24]);
    expect(toHex(VETH6_DAD_NS.subarray(options.nonceOffset + 2, options.nonceOffset + 8))).toBe('97d25d05aaa4');
    expect(parse(SLIRP_NS)).toBe(DropReason.None);
    expect(formatIpv6(ndp.bytes, ndp.targetOffset)).toBe('fd00::2');
  });

  test('neighbor advertisement: flags and target link-layer address (a Linux router, slirp4netns)', () => {
    for (const [frame, target, mac] of [
      [VETH6_NA, 'fd00::1', ROUTER6_MAC],
      [SLIRP_NA, 'fd00::2', SLIRP_GATEWAY_MAC],
    ] as const) {
      expect(parse(frame)).toBe(DropReason.None);
      expect([ndp.type, ndp.advertisementFlags, ndp.router, ndp.solicited, ndp.override]).toEqual([136, 0xe0, true, true, true]);
      expect([formatIpv6(ndp.bytes, ndp.targetOffset), options.targetLinkLayerAddress, options.sourceLinkLayerAddress]).toEqual([target, mac, -1]);
    }
  });

  test('router advertisement: radvd\'s, every field and option', () => {
    expect(parse(RADVD_RA)).toBe(DropReason.None);
    expect([ndp.curHopLimit, ndp.routerFlags, ndp.managed, ndp.other, ndp.routerLifetime, ndp.reachableTime, ndp.retransTimer]).toEqual([
      64, 0xc0, true, true, 1800, 30000, 1000,
    ]);
    expect([options.sourceLinkLayerAddress, options.mtu, options.prefixCount, options.rdnssCount]).toEqual([ROUTER6_MAC, 1500, 2, 1]);
    const reader = new NdpOptionReader();
    reader.start(ndp);
    const seen: unknown[] = [];
    while (reader.next()) {
      switch (reader.type) {
        case NdpOptionType.PrefixInformation:
          seen.push([
            'prefix',
            `${formatIpv6(reader.bytes, reader.prefixOffset)}/${reader.prefixLength}`,
            reader.onLink,
            reader.autonomous,
            reader.prefixFlags,
            reader.validLifetime,
            reader.preferredLifetime,
          ]);
          break;
        case NdpOptionType.RecursiveDnsServer:
          seen.push([
            'rdnss',
            reader.rdnssLifetime,
            Array.from({ length: reader.rdnssAddressCount }, (_, i) => formatIpv6(reader.bytes, reader.rdnssAddressOffset(i))),
          ]);
          break;
        case NdpOptionType.Mtu:
          seen.push(['mtu', reader.mtu]);
          break;
        case NdpOptionType.SourceLinkLayerAddress:
          seen.push(['slla', formatMac(reader.linkLayerAddress)]);
          break;
      }
    }
    expect(reader.reason).toBe(DropReason.None);
    expect(seen).toEqual([
      ['prefix', 'fd00::/64', true, true, 0xc0, 86400, 14400],
      ['prefix', 'fd02::/64', true, false, 0x80, NDP_INFINITE_LIFETIME, 0],
      ['rdnss', 1800, ['fd00::3', 'fd00::4']],
      ['mtu', 1500],
      ['slla', '52:55:0a:00:02:02'],
    ]);
  });

  test('router advertisement: slirp4netns\'s (no MTU, no RDNSS)', () => {
    expect(parse(SLIRP_RA)).toBe(DropReason.None);
    expect([ndp.curHopLimit, ndp.routerFlags, ndp.routerLifetime, ndp.reachableTime, ndp.retransTimer]).toEqual([64, 0, 1800, 0, 0]);
    expect(optionList()).toEqual([
      [NdpOptionType.SourceLinkLayerAddress, 8],
      [NdpOptionType.PrefixInformation, 32],
    ]);
    expect([options.sourceLinkLayerAddress, options.mtu, options.rdnssCount]).toEqual([SLIRP_GATEWAY_MAC, -1, 0]);
  });
});

describe('NDP writers: the captured messages rebuilt byte for byte', () => {
  test('the kernel\'s router solicitation', () => {
    const rs = rebuild(VETH6_RS, (buf, at) => writeLinkLayerAddressOption(buf, writeRouterSolicitation(buf, at), NdpOptionType.SourceLinkLayerAddress, GUEST6_MAC));
    expect(toHex(rs)).toBe(toHex(VETH6_RS));
  });

  test('the kernel\'s neighbor solicitation', () => {
    const target = addr('fd00::1');
    const ns = rebuild(VETH6_NS, (buf, at) =>
      writeLinkLayerAddressOption(buf, writeNeighborSolicitation(buf, at, target, 0), NdpOptionType.SourceLinkLayerAddress, GUEST6_MAC),
    );
    expect(toHex(ns)).toBe(toHex(VETH6_NS));
  });

  test('neighbor advertisements: a Linux router\'s and slirp4netns\'s', () => {
    const flags = NDP_NA_ROUTER | NDP_NA_SOLICITED | NDP_NA_OVERRIDE;
    const na = rebuild(VETH6_NA, (buf, at) =>
      writeLinkLayerAddressOption(buf, writeNeighborAdvertisement(buf, at, flags, addr('fd00::1'), 0), NdpOptionType.TargetLinkLayerAddress, ROUTER6_MAC),
    );
    expect(toHex(na)).toBe(toHex(VETH6_NA));
    const slirp = rebuild(SLIRP_NA, (buf, at) =>
      writeLinkLayerAddressOption(buf, writeNeighborAdvertisement(buf, at, flags, addr('fd00::2'), 0), NdpOptionType.TargetLinkLayerAddress, SLIRP_GATEWAY_MAC),
    );
    expect(toHex(slirp)).toBe(toHex(SLIRP_NA));
  });

  test('slirp4netns\'s router advertisement', () => {
    const ra = rebuild(SLIRP_RA, (buf, at) => {
      let o = writeRouterAdvertisement(buf, at, 64, 0, 1800, 0, 0);
      o = writeLinkLayerAddressOption(buf, o, NdpOptionType.SourceLinkLayerAddress, SLIRP_GATEWAY_MAC);
      return writePrefixInformationOption(buf, o, addr('fd00::'), 0, 64, NDP_PREFIX_ON_LINK | NDP_PREFIX_AUTONOMOUS, 86400, 14400);
    });
    expect(toHex(ra)).toBe(toHex(SLIRP_RA));
  });

  test('radvd\'s router advertisement: two prefixes, RDNSS with two servers, MTU, SLLA', () => {
    const servers = hex('fd000000000000000000000000000003 fd000000000000000000000000000004');
    const ra = rebuild(RADVD_RA, (buf, at) => {
      let o = writeRouterAdvertisement(buf, at, 64, NDP_RA_MANAGED | NDP_RA_OTHER, 1800, 30000, 1000);
      // Host bits in the given prefix are cleared by the writer (RFC 4861 §4.6.2).
      o = writePrefixInformationOption(buf, o, addr('fd00::1234'), 0, 64, NDP_PREFIX_ON_LINK | NDP_PREFIX_AUTONOMOUS, 86400, 14400);
      o = writePrefixInformationOption(buf, o, addr('fd02::'), 0, 64, NDP_PREFIX_ON_LINK, NDP_INFINITE_LIFETIME, 0);
      o = writeRdnssOption(buf, o, 1800, servers, 0, 2);
      o = writeMtuOption(buf, o, 1500);
      return writeLinkLayerAddressOption(buf, o, NdpOptionType.SourceLinkLayerAddress, ROUTER6_MAC);
    });
    expect(toHex(ra)).toBe(toHex(RADVD_RA));
  });
});

describe('NDP option reader', () => {
  /** A Router Solicitation whose options are the given hex, checksum not filled (validateNdp does not check it). */
  function rsWith(optionsHex: string, source = 'fe80::1'): Uint8Array {
    const body = hex(optionsHex);
    const buf = new Uint8Array(14 + 40 + 8 + body.length);
    writeIpv6Header(buf, 14, addr(source), 0, addr('ff02::2'), 0, 58, 8 + body.length, 255);
    writeRouterSolicitation(buf, 54);
    buf.set(body, 62);
    return buf;
  }

  test.each([
    ['zero length', '0100 000000000000'],
    ['zero length, unknown type', '1800 000000000000'],
    ['past the end', '0102 525400123456'],
    ['past the end, unknown type', '1802 000000000000'],
    ['past the end, after a good one', '0101 525400123456 1803 000000000000 0000000000000000'],
    ['a lone type byte at the end', '0101 525400123456 01'],
    ['source link-layer address of 16 bytes', '0102 525400123456 0000000000000000'],
    ['prefix information of 24 bytes', '0303 40c0 00000000 00000000 00000000 fd00000000000000'],
    ['MTU of 16 bytes', '0502 0000 000005dc 0000000000000000'],
    ['RDNSS of 16 bytes (no address)', '1902 0000 00000708 fd00000000000000'],
    ['RDNSS of 32 bytes (half an address)', '1904 0000 00000708 fd000000000000000000000000000003 fd00000000000000'],
  ])('refuses an option with %s → BadOption', (_name, optionsHex) => {
    expect(parse(rsWith(optionsHex), false)).toBe(DropReason.BadOption);
  });

  test('skips unknown options of any valid length; reads RDNSS with three servers', () => {
    const frame = rsWith(
      '1803 4018 00000708 fd000000000000000000000000000000' + // route information (RFC 4191): unknown here
        '1907 0000 ffffffff fd000000000000000000000000000003 fd000000000000000000000000000004 fd000000000000000000000000000005' +
        'fe01 000000000000',
    );
    expect(parse(frame, false)).toBe(DropReason.None);
    expect(optionList()).toEqual([
      [24, 24],
      [25, 56],
      [254, 8],
    ]);
    const reader = new NdpOptionReader();
    reader.start(ndp);
    reader.next();
    reader.next();
    expect([reader.rdnssLifetime, reader.rdnssAddressCount, formatIpv6(reader.bytes, reader.rdnssAddressOffset(2))]).toEqual([
      NDP_INFINITE_LIFETIME,
      3,
      'fd00::5',
    ]);
    expect(options.rdnssCount).toBe(1);
  });

  test('a refused option ends the walk for good', () => {
    const frame = rsWith('0101 525400123456 0000 000000000000 0101 525400123456');
    expect(parse(frame, false)).toBe(DropReason.BadOption);
    const reader = new NdpOptionReader();
    reader.start(ndp);
    expect(reader.next()).toBe(true);
    expect(reader.next()).toBe(false);
    expect(reader.next()).toBe(false);
    expect(reader.reason).toBe(DropReason.BadOption);
    reader.reset(frame, 62, 70);
    expect([reader.next(), reader.linkLayerAddress, reader.next(), reader.reason]).toEqual([true, GUEST6_MAC, false, DropReason.None]);
  });
});

describe('NDP validity (RFC 4861)', () => {
  function broken(frame: Uint8Array, change: (b: Uint8Array) => void): DropReason {
    const b = frame.slice();
    change(b);
    return parse(b, false);
  }

  test('hop limit other than 255 and code other than 0 → InvalidNdp, for every type', () => {
    for (const [name, frame] of Object.entries(NDP_FIXTURES)) {
      for (const hopLimit of [0, 1, 64, 254]) expect(broken(frame, (b) => (b[21] = hopLimit)), name).toBe(DropReason.InvalidNdp);
      expect(broken(frame, (b) => (b[55] = 1)), name).toBe(DropReason.InvalidNdp);
      expect(broken(frame, (b) => (b[21] = NDP_HOP_LIMIT))).toBe(DropReason.None);
    }
  });

  test('a message shorter than its fixed part → Truncated; not an NDP type → UnsupportedProtocol', () => {
    for (const [name, frame] of Object.entries(NDP_FIXTURES)) {
      expect(ip.wrap(frame, 14, frame.length - 14)).toBe(DropReason.None);
      const fixed = { 133: 8, 134: 16, 135: 24, 136: 24 }[frame[54] as 133 | 134 | 135 | 136];
      for (let length = 0; length < fixed; length++) expect(ndp.wrap(frame, 54, length), `${name} ${length}`).toBe(DropReason.Truncated);
      expect(ndp.wrap(frame, 54, fixed)).toBe(DropReason.None);
    }
    const echo = VETH6_RS.slice();
    echo[54] = Icmpv6Type.EchoRequest;
    expect(ndp.wrap(echo, 54, 16)).toBe(DropReason.UnsupportedProtocol);
  });

  test('RS: from the unspecified address it must not carry a source link-layer address', () => {
    const unspecified = (b: Uint8Array): void => {
      b.fill(0, 22, 38);
    };
    expect(broken(VETH6_RS, unspecified)).toBe(DropReason.InvalidNdp);
    expect(broken(VETH6_RS, (b) => (unspecified(b), (b[62] = 0xfe)))).toBe(DropReason.None); // the option becomes an unknown one
  });

  test('RA: only from a link-local source', () => {
    expect(broken(SLIRP_RA, (b) => b.set(addr('fd00::2'), 22))).toBe(DropReason.InvalidNdp);
    expect(broken(RADVD_RA, (b) => b.set(addr('fe80::1'), 22))).toBe(DropReason.None);
  });

  test('NS: target not multicast; from :: only to a solicited-node address and without SLLA', () => {
    expect(broken(VETH6_NS, (b) => (b[62] = 0xff))).toBe(DropReason.InvalidNdp);
    expect(broken(VETH6_DAD_NS, (b) => b.set(IPV6_ALL_NODES, 38))).toBe(DropReason.InvalidNdp);
    // DAD with a source link-layer address instead of the nonce.
    expect(broken(VETH6_DAD_NS, (b) => b.set(hex('0101525400123456'), 78))).toBe(DropReason.InvalidNdp);
    // The same NS from a real address may go anywhere and carry SLLA.
    expect(broken(VETH6_NS, (b) => b.set(addr('fd00::1'), 38))).toBe(DropReason.None);
  });

  test('NA: target not multicast; solicited only to a unicast destination', () => {
    expect(broken(VETH6_NA, (b) => (b[62] = 0xff))).toBe(DropReason.InvalidNdp);
    expect(broken(VETH6_NA, (b) => b.set(IPV6_ALL_NODES, 38))).toBe(DropReason.InvalidNdp);
    expect(broken(VETH6_NA, (b) => (b.set(IPV6_ALL_NODES, 38), (b[58] = NDP_NA_OVERRIDE)))).toBe(DropReason.None);
  });

  test('redirect: link-local source, unicast destination, target link-local or the destination itself', () => {
    function redirect(source: string, target: string, destination: string): Uint8Array {
      const buf = new Uint8Array(14 + 40 + 40);
      writeIpv6Header(buf, 14, addr(source), 0, addr('fd00::100'), 0, 58, 40, 255);
      buf[54] = Icmpv6Type.Redirect;
      buf.set(addr(target), 62);
      buf.set(addr(destination), 78);
      return buf;
    }
    expect(parse(redirect('fe80::1', 'fe80::2', 'fd01::9'), false)).toBe(DropReason.None);
    expect(formatIpv6(ndp.bytes, ndp.redirectDestinationOffset)).toBe('fd01::9');
    expect(parse(redirect('fe80::1', 'fd01::9', 'fd01::9'), false)).toBe(DropReason.None);
    expect(parse(redirect('fd00::1', 'fe80::2', 'fd01::9'), false)).toBe(DropReason.InvalidNdp);
    expect(parse(redirect('fe80::1', 'fe80::2', 'ff02::1'), false)).toBe(DropReason.InvalidNdp);
    expect(parse(redirect('fe80::1', 'fd01::8', 'fd01::9'), false)).toBe(DropReason.InvalidNdp);
  });

  test('every captured message truncated at every length and bit-flipped everywhere: a DropReason, never a throw', () => {
    for (const [name, frame] of Object.entries(NDP_FIXTURES)) {
      for (let length = 0; length <= frame.length; length++) {
        const reason = parse(frame.subarray(0, length));
        expect(DropReason[reason], `${name} cut at ${length}`).toBeDefined();
        if (length < frame.length) expect(reason, `${name} cut at ${length}`).not.toBe(DropReason.None);
      }
      for (let bit = 0; bit < frame.length * 8; bit++) {
        const b = frame.slice();
        b[bit >>> 3] ^= 0x80 >>> (bit & 7);
        const verified = parse(b);
        // With checksums verified, only flips in the Ethernet header (not parsed here), the traffic
        // class and the flow label (outside the pseudo-header, meaningless to NDP) may pass…
        const harmless = bit < 14 * 8 || (bit >= 14 * 8 + 4 && bit < 18 * 8);
        if (!harmless) expect(verified, `${name} bit ${bit}`).not.toBe(DropReason.None);
        // …and without, every flip still ends in a defined verdict.
        expect(DropReason[parse(b, false)]).toBeDefined();
      }
    }
  });
});

describe('NDP cross-check with tcpdump', () => {
  /** The RA the engine will send: fe80::2 → ff02::1 from 52:55:0a:00:02:02, prefix fd00::/64, MTU, RDNSS fd00::3. */
  function engineRa(mtu: number): Uint8Array {
    const buf = new Uint8Array(14 + 40 + 16 + 8 + 32 + 8 + 24);
    const source = new Uint8Array(16);
    writeLinkLocalFromMac(source, 0, ROUTER6_MAC);
    writeEthernetHeader(buf, 0, ipv6MulticastMac(IPV6_ALL_NODES, 0), ROUTER6_MAC, EtherType.Ipv6);
    let o = writeRouterAdvertisement(buf, 54, 64, 0, 1800, 0, 0);
    o = writeLinkLayerAddressOption(buf, o, NdpOptionType.SourceLinkLayerAddress, ROUTER6_MAC);
    o = writePrefixInformationOption(buf, o, addr('fd00::'), 0, 64, NDP_PREFIX_ON_LINK | NDP_PREFIX_AUTONOMOUS, 86400, 14400);
    o = writeMtuOption(buf, o, mtu);
    o = writeRdnssOption(buf, o, 1800, addr('fd00::3'), 0, 1);
    writeIpv6Header(buf, 14, source, 0, IPV6_ALL_NODES, 0, 58, o - 54, 255);
    fillIcmpv6Checksum(buf, 54, o - 54, ipv6HeaderPseudoSum(buf, 14, 58, o - 54));
    return buf;
  }

  test('the engine\'s RA, NS and NA decode as intended, checksums verified', (ctx) => {
    requireOrSkip(ctx, tcpdumpPrerequisite());
    const guest = addr('fd00::5054:ff:fe12:3456');
    const ns = new Uint8Array(14 + 40 + 32);
    const solicited = new Uint8Array(16);
    writeSolicitedNodeMulticast(solicited, 0, guest, 0);
    writeEthernetHeader(ns, 0, ipv6MulticastMac(solicited, 0), ROUTER6_MAC, EtherType.Ipv6);
    writeIpv6Header(ns, 14, addr('fd00::2'), 0, solicited, 0, 58, 32, 255);
    writeLinkLayerAddressOption(ns, writeNeighborSolicitation(ns, 54, guest, 0), NdpOptionType.SourceLinkLayerAddress, ROUTER6_MAC);
    fillIcmpv6Checksum(ns, 54, 32, ipv6HeaderPseudoSum(ns, 14, 58, 32));
    const na = new Uint8Array(14 + 40 + 32);
    writeEthernetHeader(na, 0, GUEST6_MAC, ROUTER6_MAC, EtherType.Ipv6);
    writeIpv6Header(na, 14, addr('fd00::3'), 0, guest, 0, 58, 32, 255);
    writeLinkLayerAddressOption(na, writeNeighborAdvertisement(na, 54, NDP_NA_SOLICITED | NDP_NA_OVERRIDE, addr('fd00::3'), 0), NdpOptionType.TargetLinkLayerAddress, ROUTER6_MAC);
    fillIcmpv6Checksum(na, 54, 32, ipv6HeaderPseudoSum(na, 14, 58, 32));
    const [ra, nsText, naText] = tcpdumpDecode([engineRa(65520), ns, na]);
    expect(ra).toContain('52:55:0a:00:02:02 > 33:33:00:00:00:01');
    expect(ra).toContain('hlim 255');
    expect(ra).toContain('fe80::5055:aff:fe00:202 > ff02::1: [icmp6 sum ok] ICMP6, router advertisement, length 88');
    expect(ra).toContain('hop limit 64, Flags [none], pref medium, router lifetime 1800s, reachable time 0ms, retrans timer 0ms');
    expect(ra).toContain('source link-address option (1), length 8 (1): 52:55:0a:00:02:02');
    expect(ra).toContain('prefix info option (3), length 32 (4): fd00::/64, Flags [onlink, auto], valid time 86400s, pref. time 14400s');
    expect(ra).toContain('mtu option (5), length 8 (1): 65520');
    expect(ra).toContain('rdnss option (25), length 24 (3): lifetime 1800s, addr: fd00::3');
    expect(nsText).toContain('33:33:ff:12:34:56');
    expect(nsText).toContain('fd00::2 > ff02::1:ff12:3456: [icmp6 sum ok] ICMP6, neighbor solicitation, length 32, who has fd00::5054:ff:fe12:3456');
    expect(nsText).toContain('source link-address option (1), length 8 (1): 52:55:0a:00:02:02');
    expect(naText).toContain('fd00::3 > fd00::5054:ff:fe12:3456: [icmp6 sum ok] ICMP6, neighbor advertisement, length 32, tgt is fd00::3, Flags [solicited, override]');
    expect(naText).toContain('destination link-address option (2), length 8 (1): 52:55:0a:00:02:02');
  });

  test('random router advertisements: tcpdump reads the fields our reader reads (seeded)', (ctx) => {
    requireOrSkip(ctx, tcpdumpPrerequisite());
    const random = seeded(4861);
    const u32 = (): number => (random() * 0x1_0000_0000) >>> 0;
    const frames: Uint8Array[] = [];
    for (let round = 0; round < 40; round++) {
      const prefixLength = (random() * 129) | 0;
      const prefix = new Uint8Array(16);
      for (let i = 0; i < 16; i++) prefix[i] = (random() * 256) | 0;
      const servers = (1 + random() * 3) | 0;
      const serverBytes = new Uint8Array(16 * servers);
      for (let i = 0; i < serverBytes.length; i++) serverBytes[i] = (random() * 256) | 0;
      const buf = new Uint8Array(14 + 40 + 16 + 32 + 8 + 8 + 16 * servers + 8);
      writeEthernetHeader(buf, 0, ipv6MulticastMac(IPV6_ALL_NODES, 0), ROUTER6_MAC, EtherType.Ipv6);
      let o = writeRouterAdvertisement(buf, 54, (random() * 256) | 0, random() < 0.5 ? NDP_RA_MANAGED : NDP_RA_OTHER, (random() * 65536) | 0, u32(), u32());
      o = writePrefixInformationOption(buf, o, prefix, 0, prefixLength, random() < 0.5 ? NDP_PREFIX_ON_LINK : NDP_PREFIX_AUTONOMOUS, u32(), u32());
      o = writeMtuOption(buf, o, u32());
      o = writeRdnssOption(buf, o, u32(), serverBytes, 0, servers);
      o = writeLinkLayerAddressOption(buf, o, NdpOptionType.SourceLinkLayerAddress, Math.floor(random() * 2 ** 48));
      writeIpv6Header(buf, 14, addr('fe80::2'), 0, IPV6_ALL_NODES, 0, 58, o - 54, 255);
      fillIcmpv6Checksum(buf, 54, o - 54, ipv6HeaderPseudoSum(buf, 14, 58, o - 54));
      frames.push(buf);
    }
    const decoded = tcpdumpDecode(frames);
    const reader = new NdpOptionReader();
    const lifetime = (s: number): string => (s === NDP_INFINITE_LIFETIME ? 'infinity' : `${s}s`);
    frames.forEach((frame, i) => {
      const text = decoded[i];
      expect(parse(frame), text).toBe(DropReason.None);
      expect(text).toContain('[icmp6 sum ok]');
      expect(text).toContain(
        `hop limit ${ndp.curHopLimit}, Flags [${ndp.managed ? 'managed' : 'other stateful'}], pref medium, router lifetime ${ndp.routerLifetime}s, reachable time ${ndp.reachableTime}ms, retrans timer ${ndp.retransTimer}ms`,
      );
      reader.start(ndp);
      while (reader.next()) {
        if (reader.type === NdpOptionType.PrefixInformation) {
          const network = new Uint8Array(16);
          writeIpv6Prefix(network, 0, reader.bytes, reader.prefixOffset, reader.prefixLength);
          expect(toHex(network)).toBe(toHex(reader.bytes.subarray(reader.prefixOffset, reader.prefixOffset + 16)));
          expect(text).toContain(
            `prefix info option (3), length 32 (4): ${formatIpv6(network)}/${reader.prefixLength}, Flags [${reader.onLink ? 'onlink' : 'auto'}], valid time ${lifetime(reader.validLifetime)}, pref. time ${lifetime(reader.preferredLifetime)}`,
          );
        } else if (reader.type === NdpOptionType.Mtu) {
          expect(text).toContain(`mtu option (5), length 8 (1): ${reader.mtu}`);
        } else if (reader.type === NdpOptionType.RecursiveDnsServer) {
          const list = Array.from({ length: reader.rdnssAddressCount }, (_, k) => `addr: ${formatIpv6(reader.bytes, reader.rdnssAddressOffset(k))}`).join(' ');
          expect(text).toContain(`rdnss option (25), length ${reader.length} (${reader.length / 8}): lifetime ${lifetime(reader.rdnssLifetime)}, ${list}`);
        } else if (reader.type === NdpOptionType.SourceLinkLayerAddress) {
          expect(text).toContain(`source link-address option (1), length 8 (1): ${formatMac(reader.linkLayerAddress)}`);
        }
      }
      expect(reader.reason).toBe(DropReason.None);
    });
  });
});

/**
 * Real IPv6 frames for the wire codec tests, written as hex. Not a test file itself.
 *
 * VETH6_*: Linux 6.18 kernels in three network namespaces made for the capture, A (fd00::100, MAC
 * 52:54:00:12:34:56) — R (a forwarding router, fd00::1 on MAC 52:55:0a:00:02:02, fd01::1 towards B
 * on a link of MTU 1280) — B (fd01::2); veth pairs with checksum offload turned off (ethtool -K tx off),
 * so every checksum is complete; captured with tcpdump on R's side of the A–R link. Traffic: link up
 * (MLD, DAD, RS), ping -6 fd00::1, ping -t 1 and ping -s 1300 -M do to fd01::2, UDP to a closed port,
 * a TCP connection, a 3000-byte UDP datagram (fragmented), a raw socket with Next Header 253, and UDP
 * with IPV6_DSTOPTS / IPV6_HOPOPTS set.
 * RADVD_RA: radvd 2.19 on R (AdvManagedFlag, AdvOtherConfigFlag, two prefixes, RDNSS, MTU).
 * SLIRP_*: slirp4netns 1.2.0 --configure --enable-ipv6 (itself in a namespace with only lo) and its
 * guest's kernel, captured on the guest's tap0.
 *
 * The largest frames are stored as their headers plus the payload pattern the sender used (ping's
 * byte i = i, the UDP test's bytes 0..255 eleven times then zeros); their checksums, computed by the
 * kernel over the real bytes, prove the reconstruction (test/wire/ipv6.test.ts checks them).
 */
import { hex } from './captured.js';

export const GUEST6_MAC = 0x5254_0012_3456;
export const ROUTER6_MAC = 0x5255_0a00_0202;
export const SLIRP_GUEST_MAC = 0xd230_e111_b277;
export const SLIRP_GATEWAY_MAC = 0x5256_0000_0002;
export const SLIRP_DNS_MAC = 0x5256_0000_0003;

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** ping's data from byte `from` to `to`: byte i is i & 0xff (after its 16-byte timestamp). */
function pingData(from: number, to: number): Uint8Array {
  return Uint8Array.from({ length: to - from }, (_, k) => (from + k) & 0xff);
}

/** The 3000-byte UDP payload of the fragmented datagram: bytes 0..255 eleven times, then 184 zeros. */
export const FRAGMENTED_UDP_PAYLOAD = Uint8Array.from({ length: 3000 }, (_, i) => (i < 2816 ? i & 0xff : 0));

/** MLDv2 report from fe80::5054:ff:fe12:3456 to ff02::16 behind a Hop-by-Hop header (Router Alert 0, PadN 0), hop limit 1: joins ff02::1:ff00:100 and ff02::1:ff12:3456. */
export const VETH6_MLD_REPORT = hex(
  '33330000001652540012345686dd' +
  '6000000000380001fe80000000000000505400fffe123456ff020000000000000000000000000016' +
  '3a000502000001008f00b5ca0000000204000000ff0200000000000000000001ff00010004000000ff02000000000000' +
  '00000001ff123456',
);

/** Duplicate address detection: NS from :: to ff02::1:ff00:100 for fd00::100, with a Nonce option (type 14, RFC 7527) and no source link-layer address. */
export const VETH6_DAD_NS = hex(
  '3333ff00010052540012345686dd' +
  '6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff000100' +
  '8700ce2100000000fd0000000000000000000000000001000e0197d25d05aaa4',
);

/** Router solicitation from fe80::5054:ff:fe12:3456 to ff02::2, source link-layer address 52:54:00:12:34:56. */
export const VETH6_RS = hex(
  '33330000000252540012345686dd' +
  '6000000000103afffe80000000000000505400fffe123456ff020000000000000000000000000002' +
  '850071b5000000000101525400123456',
);

/** Address resolution: NS fd00::100 → ff02::1:ff00:1 for fd00::1, source link-layer address 52:54:00:12:34:56. */
export const VETH6_NS = hex(
  '3333ff00000152540012345686dd' +
  '6000000000203afffd000000000000000000000000000100ff0200000000000000000001ff000001' +
  '8700f7de00000000fd0000000000000000000000000000010101525400123456',
);

/** The answer from the forwarding router: NA fd00::1 → fd00::100 for fd00::1, flags router+solicited+override, target link-layer address 52:55:0a:00:02:02. */
export const VETH6_NA = hex(
  '52540012345652550a00020286dd' +
  '6000000000203afffd000000000000000000000000000001fd000000000000000000000000000100' +
  '88003f47e0000000fd000000000000000000000000000001020152550a000202',
);

/** ping -s 12 -p 00: echo request fd00::100 → fd00::1, id 20977 seq 1, flow label 0xd7456. */
export const VETH6_ECHO_REQUEST = hex(
  '52550a00020252540012345686dd' +
  '600d745600143a40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '800032bc51f10001000000000000000000000000',
);

/** The router's echo reply (flow label 0x7b18d). */
export const VETH6_ECHO_REPLY = hex(
  '52540012345652550a00020286dd' +
  '6007b18d00143a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '810031bc51f10001000000000000000000000000',
);

/** ping -t 1 fd01::2: echo request id 20978 seq 1 with hop limit 1 and 56 bytes of data. */
export const VETH6_HOP_LIMIT_1_ECHO = hex(
  '52550a00020252540012345686dd' +
  '60097d3000403a01fd000000000000000000000000000100fd010000000000000000000000000002' +
  '8000848c51f20001db88156b00000000fe39000000000000101112131415161718191a1b1c1d1e1f2021222324252627' +
  '28292a2b2c2d2e2f3031323334353637',
);

/** The router's time exceeded (hop limit, code 0) quoting all of VETH6_HOP_LIMIT_1_ECHO's IPv6 packet. */
export const VETH6_TIME_EXCEEDED = hex(
  '52540012345652550a00020286dd' +
  '600d72b300703a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '0300ea510000000060097d3000403a01fd000000000000000000000000000100fd010000000000000000000000000002' +
  '8000848c51f20001db88156b00000000fe39000000000000101112131415161718191a1b1c1d1e1f2021222324252627' +
  '28292a2b2c2d2e2f3031323334353637',
);

/** UDP fd00::100:46457 → fd00::1:47002 "ping!" (checksum complete: offloads were off). */
export const VETH6_UDP = hex(
  '52550a00020252540012345686dd' +
  '6000d1ec000d1140fd000000000000000000000000000100fd000000000000000000000000000001' +
  'b579b79a000d97ec70696e6721',
);

/** Port unreachable (code 4) for VETH6_UDP, quoting the whole packet. */
export const VETH6_PORT_UNREACHABLE = hex(
  '52540012345652550a00020286dd' +
  '600d8b30003d3a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '0104c065000000006000d1ec000d1140fd000000000000000000000000000100fd000000000000000000000000000001' +
  'b579b79a000d97ec70696e6721',
);

/** TCP SYN fd00::100:52052 → fd00::1:47001, seq 426312456, win 64800, mss 1440, sackOK, TS val 2155268240 ecr 0, nop, wscale 10. */
export const VETH6_TCP_SYN = hex(
  '52550a00020252540012345686dd' +
  '60041a2100280640fd000000000000000000000000000100fd000000000000000000000000000001' +
  'cb54b7991969030800000000a002fd2067870000020405a00402080a8076c890000000000103030a',
);

/** SYN-ACK seq 365711920 ack 426312457 win 64260, mss 1440, sackOK, TS val 1483358223 ecr 2155268240, nop, wscale 10. */
export const VETH6_TCP_SYN_ACK = hex(
  '52540012345652550a00020286dd' +
  '600c927800280640fd000000000000000000000000000001fd000000000000000000000000000100' +
  'b799cb5415cc523019690309a012fb04691c0000020405a00402080a586a400f8076c8900103030a',
);

/** PSH+ACK carrying "hello" (seq 426312457, ack 365711921, win 64, TS). */
export const VETH6_TCP_DATA = hex(
  '52550a00020252540012345686dd' +
  '60041a2100250640fd000000000000000000000000000100fd000000000000000000000000000001' +
  'cb54b7991969030915cc5231801800404ebc00000101080a8076c891586a400f68656c6c6f',
);

/** A raw IPv6 socket's packet with Next Header 253 (experimental) and 8 bytes "abcdefgh". */
export const VETH6_UNKNOWN_NEXT_HEADER = hex(
  '52550a00020252540012345686dd' +
  '600299a90008fd40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '6162636465666768',
);

/** The kernel's answer: parameter problem, code 1 (unrecognized next header), pointer 6. */
export const VETH6_PARAMETER_PROBLEM_NEXT_HEADER = hex(
  '52540012345652550a00020286dd' +
  '600833c400383a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '04017cf600000006600299a90008fd40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '6162636465666768',
);

/** UDP to port 47004 behind a Destination Options header holding option type 0x87 (action 10: discard and report), length 4. */
export const VETH6_UNKNOWN_DESTINATION_OPTION = hex(
  '52550a00020252540012345686dd' +
  '6000f18600133c40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '11008704010203049693b79c000bd3346f7074',
);

/** The kernel's answer: parameter problem, code 2 (unrecognized option), pointer 42 (the option's type byte). */
export const VETH6_PARAMETER_PROBLEM_OPTION = hex(
  '52540012345652550a00020286dd' +
  '6007421700433a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '0402d68a0000002a6000f18600133c40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '11008704010203049693b79c000bd3346f7074',
);

/** UDP to port 47005 behind a Hop-by-Hop header: Router Alert 0, PadN with no data. */
export const VETH6_HOP_BY_HOP_UDP = hex(
  '52550a00020252540012345686dd' +
  '600c2f3d00130040fd000000000000000000000000000100fd000000000000000000000000000001' +
  '1100050200000100868fb79d000bf645686268',
);

/** Port unreachable for VETH6_HOP_BY_HOP_UDP, quoting it with its Hop-by-Hop header. */
export const VETH6_HOP_BY_HOP_PORT_UNREACHABLE = hex(
  '52540012345652550a00020286dd' +
  '600d8b3000433a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '01045cf900000000600c2f3d00130040fd000000000000000000000000000100fd000000000000000000000000000001' +
  '1100050200000100868fb79d000bf645686268',
);
const BIG_ECHO_HEAD = hex(
  '52550a00020252540012345686dd' +
  '60097d30051c3a40fd000000000000000000000000000100fd010000000000000000000000000002' +
  '8000d4e451f30001db88156b000000008474000000000000',
);

const PTB_HEAD = hex(
  '52540012345652550a00020286dd' +
  '600896e204d83a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '020033360000050060097d30051c3a40fd000000000000000000000000000100fd010000000000000000000000000002' +
  '8000d4e451f30001db88156b000000008474000000000000',
);

const FRAG0_HEAD = hex(
  '52550a00020252540012345686dd' +
  '60059cba05b02c40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '1100000106c05674ad18b79b0bc045fa',
);

const FRAG1_HEAD = hex(
  '52550a00020252540012345686dd' +
  '60059cba05b02c40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '110005a906c05674',
);

const FRAG2_HEAD = hex(
  '52550a00020252540012345686dd' +
  '60059cba00782c40fd000000000000000000000000000100fd000000000000000000000000000001' +
  '11000b5006c05674',
);

const FRAG_UNREACH_HEAD = hex(
  '52540012345652550a00020286dd' +
  '600d8b3004d83a40fd000000000000000000000000000001fd000000000000000000000000000100' +
  '0104699d0000000060059cba0bc01140fd000000000000000000000000000100fd000000000000000000000000000001' +
  'ad18b79b0bc045fa',
);
/** ping -s 1300 -M do fd01::2: a 1362-byte frame for a link of MTU 1280 behind the router (id 20979 seq 1). */
export const VETH6_BIG_ECHO_REQUEST = concat(BIG_ECHO_HEAD, pingData(16, 1300));
/**
 * The router's packet too big (MTU 1280) for it, quoting the first 1232 bytes of the packet, so that
 * the error is exactly 1280 bytes (RFC 4443 §2.4(c)).
 */
export const VETH6_PACKET_TOO_BIG = concat(PTB_HEAD, pingData(16, 1184));
/**
 * A 3000-byte UDP datagram fd00::100:44312 → fd00::1:47003 sent over MTU 1500 in three fragments,
 * identification 0x06c05674: offsets 0 (UDP header + 1440 bytes, M), 1448 (1448 bytes, M), 2896 (112 bytes).
 */
export const VETH6_FRAGMENTS = [
  concat(FRAG0_HEAD, FRAGMENTED_UDP_PAYLOAD.subarray(0, 1440)),
  concat(FRAG1_HEAD, FRAGMENTED_UDP_PAYLOAD.subarray(1440, 2888)),
  concat(FRAG2_HEAD, FRAGMENTED_UDP_PAYLOAD.subarray(2888)),
];
/**
 * Port unreachable for the reassembled datagram: Linux quotes the reassembled packet (no Fragment
 * header, payload length 3008, Next Header UDP), cut at 1232 bytes.
 */
export const VETH6_FRAGMENTED_PORT_UNREACHABLE = concat(FRAG_UNREACH_HEAD, FRAGMENTED_UDP_PAYLOAD.subarray(0, 1184));

/** radvd 2.19's solicited RA fe80::5055:aff:fe00:202 → fe80::5054:ff:fe12:3456: cur hop limit 64, M and O set, router lifetime 1800 s, reachable 30000 ms, retrans 1000 ms; options prefix fd00::/64 L+A valid 86400 preferred 14400, prefix fd02::/64 L only valid infinite preferred 0, RDNSS lifetime 1800 fd00::3 fd00::4, MTU 1500, source link-layer address 52:55:0a:00:02:02. */
export const RADVD_RA = hex(
  '52540012345652550a00020286dd' +
  '6002110400883afffe8000000000000050550afffe000202fe80000000000000505400fffe123456' +
  '86004ced40c0070800007530000003e8030440c0000151800000384000000000fd000000000000000000000000000000' +
  '03044080ffffffff0000000000000000fd0200000000000000000000000000001905000000000708fd00000000000000' +
  '0000000000000003fd00000000000000000000000000000405010000000005dc010152550a000202',
);

/** A guest kernel's RS on slirp4netns's tap0 (guest MAC d2:30:e1:11:b2:77). */
export const SLIRP_RS = hex(
  '333300000002d230e111b27786dd' +
  '6000000000103afffe80000000000000d030e1fffe11b277ff020000000000000000000000000002' +
  '8500b3b9000000000101d230e111b277',
);

/** slirp4netns 1.2.0's RA (libslirp) fe80::2 → ff02::1 from 52:56:00:00:00:02: cur hop limit 64, no flags, router lifetime 1800 s, reachable 0, retrans 0; options source link-layer address, prefix fd00::/64 L+A valid 86400 preferred 14400. No MTU and no RDNSS option. */
export const SLIRP_RA = hex(
  '33330000000152560000000286dd' +
  '6000000000383afffe800000000000000000000000000002ff020000000000000000000000000001' +
  '8600171e4000070800000000000000000101525600000002030440c0000151800000384000000000fd00000000000000' +
  '0000000000000000',
);

/** The guest resolving fd00::2: NS fd00::d030:e1ff:fe11:b277 → ff02::1:ff00:2, source link-layer address. */
export const SLIRP_NS = hex(
  '3333ff000002d230e111b27786dd' +
  '6000000000203afffd00000000000000d030e1fffe11b277ff0200000000000000000001ff000002' +
  '8700b72400000000fd0000000000000000000000000000020101d230e111b277',
);

/** slirp4netns's NA for fd00::2: router+solicited+override, target link-layer address 52:56:00:00:00:02, hop limit 255. */
export const SLIRP_NA = hex(
  'd230e111b27752560000000286dd' +
  '6000000000203afffd000000000000000000000000000002fd00000000000000d030e1fffe11b277' +
  '8800e989e0000000fd0000000000000000000000000000020201525600000002',
);

/** ping -s 12 fd00::2 from the guest: id 22033 seq 1. */
export const SLIRP_ECHO_REQUEST = hex(
  '525600000002d230e111b27786dd' +
  '6002f4a400143a40fd00000000000000d030e1fffe11b277fd000000000000000000000000000002' +
  '8000aebc56110001000102030405060708090a0b',
);

/** slirp4netns's echo reply from fd00::2 (hop limit 255, flow label 0). */
export const SLIRP_ECHO_REPLY = hex(
  'd230e111b27752560000000286dd' +
  '6000000000143afffd000000000000000000000000000002fd00000000000000d030e1fffe11b277' +
  '8100adbc56110001000102030405060708090a0b',
);

/** The guest's SYN to [fd00::2]:47001 (a listener on the host's [::1]). */
export const SLIRP_TCP_SYN = hex(
  '525600000002d230e111b27786dd' +
  '6007d48100280640fd00000000000000d030e1fffe11b277fd000000000000000000000000000002' +
  'b61eb7995390b61200000000a002fd2017df0000020405a00402080a7951e5a6000000000103030a',
);

/** slirp4netns's SYN-ACK: seq 64001, win 65535, hop limit 255, only an MSS option (1440). */
export const SLIRP_TCP_SYN_ACK = hex(
  'd230e111b27752560000000286dd' +
  '60000000001806fffd000000000000000000000000000002fd00000000000000d030e1fffe11b277' +
  'b799b61e0000fa015390b6136012ffffca0e0000020405a0',
);

/**
 * Real frames captured with tcpdump (Linux 6.x kernel, busybox udhcpc 1.35, glibc resolver), written as
 * hex, for the wire codec tests. Not a test file itself.
 *
 * The loopback captures (LO_*) carry all-zero MACs, and their TCP/UDP checksum fields hold the
 * partial (pseudo-header only) value the kernel leaves for checksum offload on lo; tcpdump computed
 * the real checksums, recorded in the *_CHECKSUM constants. The veth captures (VETH_*) are as sent
 * by the kernel (UDP checksums there are partial too, except udhcpc's, which it builds itself).
 */
import { mulberry32 } from '../../src/link/fault-link.js';

/** Hex (whitespace ignored) → bytes. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Deterministic PRNG (FaultLink's mulberry32) for randomised tests. */
export const seeded: (seed: number) => () => number = mulberry32;

export function randomBytes(random: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (random() * 256) | 0;
  return out;
}

/** Copy of frame with a 16-bit value stored at offset (e.g. the real checksum over a partial one). */
export function patched16(frame: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = frame.slice();
  copy[offset] = value >>> 8;
  copy[offset + 1] = value & 0xff;
  return copy;
}

export const LOOPBACK = 0x7f000001;

/** 127.0.0.1:42530 → 127.0.0.1:47001 SYN: mss 65495, sackOK, TS val 2522839765 ecr 0, nop, wscale 10. */
export const LO_TCP_SYN = hex(
  '000000000000000000000000 0800' +
    '4500003c4a5140004006f2687f0000017f000001' +
    'a622b799cb25216000000000a002ffd7fe300000 0204ffd70402080a965f7ad5000000000103030a',
);
export const LO_TCP_SYN_CHECKSUM = 0xf487;

/** The SYN-ACK answer: seq 1383282069 ack 3408208225 win 65483, TS val 970527310 ecr 2522839765. */
export const LO_TCP_SYN_ACK = hex(
  '000000000000000000000000 0800' +
    '4500003c0000400040063cba7f0000017f000001' +
    'b799a62252733595cb252161a012ffcbfe300000 0204ffd70402080a39d9124e965f7ad50103030a',
);
export const LO_TCP_SYN_ACK_CHECKSUM = 0x2053;

/** Third packet of the handshake: ACK win 64, options nop nop TS val 2522839765 ecr 970527310. */
export const LO_TCP_ACK = hex(
  '000000000000000000000000 0800' +
    '450000344a5240004006f26f7f0000017f000001' +
    'a622b799cb2521615273359680100040fe280000 0101080a965f7ad539d9124e',
);
export const LO_TCP_ACK_CHECKSUM = 0x48d2;

/** PSH+ACK carrying "hello". */
export const LO_TCP_DATA = hex(
  '000000000000000000000000 0800' +
    '450000394a5340004006f2697f0000017f000001' +
    'a622b799cb2521615273359680180040fe2d0000 0101080a965f7ad539d9124e 68656c6c6f',
);
export const LO_TCP_DATA_CHECKSUM = 0x04f3;

/** UDP 127.0.0.1:33497 → 127.0.0.1:47002 "ping!". */
export const LO_UDP = hex(
  '000000000000000000000000 0800' + '45000021e7474000401155827f0000017f000001' + '82d9b79a000dfe20 70696e6721',
);
export const LO_UDP_CHECKSUM = 0xc78c;

/** ICMP port unreachable for LO_UDP (the kernel quotes the whole 33-byte datagram). */
export const LO_ICMP_PORT_UNREACHABLE = hex(
  '000000000000000000000000 0800' +
    '45c0003de4b80000400197457f0000017f000001' +
    '0303c48900000000' +
    '45000021e7474000401155827f0000017f00000182d9b79a000dfe2070696e6721',
);

/** ping -s 12: echo request id 24898 seq 1, data 00..0b. */
export const LO_ICMP_ECHO_REQUEST = hex(
  '000000000000000000000000 0800' + '45000028e4ba4000400158187f0000017f000001' + '0800789861420001 000102030405060708090a0b',
);
/** The kernel's echo reply. */
export const LO_ICMP_ECHO_REPLY = hex(
  '000000000000000000000000 0800' + '45000028e4bb0000400198177f0000017f000001' + '0000809861420001 000102030405060708090a0b',
);

export const GUEST_MAC = 0x5254_0012_3456;
export const GATEWAY_MAC = 0x5255_0a00_0202;
export const GUEST_IP = 0x0a000264; // 10.0.2.100
export const GATEWAY_IP = 0x0a000202; // 10.0.2.2
export const DNS_IP = 0x0a000203; // 10.0.2.3

/** ARP who-has 10.0.2.2 tell 10.0.2.100 from 52:54:00:12:34:56 (no Ethernet padding on veth). */
export const VETH_ARP_REQUEST = hex('ffffffffffff 525400123456 0806 0001 0800 06 04 0001 525400123456 0a000264 000000000000 0a000202');

/** glibc: 10.0.2.100:58298 → 10.0.2.3:53, query id 0x6898 RD, A? example.com. */
export const VETH_DNS_QUERY = hex(
  '52550a000202525400123456 0800' +
    '450000399e384000401184150a0002640a000203' +
    'e3ba00350025189d' +
    '689801000001000000000000 076578616d706c6503636f6d00 0001 0001',
);
export const VETH_DNS_QUERY_UDP_CHECKSUM = 0xcb47;

/**
 * busybox udhcpc DHCPDISCOVER from 52:54:00:12:34:56, xid 0x5177750c, 0.0.0.0:68 → 255.255.255.255:67,
 * options 53 Discover, 57 max size 576, 55 [1 3 6 12 15 28 42], 12 "guest1", 60 "udhcp 1.35.0",
 * 61 [01 52:54:00:12:34:56], End; the UDP checksum is complete.
 */
export const VETH_DHCP_DISCOVER = hex(
  'ffffffffffff525400123456 0800' +
    '4500014800000000401179a600000000ffffffff' +
    '004400430134e1ef' +
    '010106005177750c000000000000000000000000000000000000000052540012345600000000000000000000' +
    '00'.repeat(192) +
    '63825363' +
    '350101 39020240 3707010306 0c0f1c2a 0c06677565737431 3c0c756468637020312e33352e30 3d0701525400123456 ff' +
    '000000000000000000000000',
);

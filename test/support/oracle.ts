/**
 * An independent view of what the engine emits: the `ip-packet` decoder for IPv4 and a deliberately
 * naive checksum written here (not src/wire/checksum.ts), so a bug in our codecs cannot hide itself.
 */
import * as ipPacket from 'ip-packet';

export interface OracleFrame {
  destinationMac: string;
  sourceMac: string;
  etherType: number;
  ip: ipPacket.DecodedIpv4;
  /** Header checksum as ip-packet computes it (on a copy). */
  ipChecksumValid: boolean;
}

function mac(bytes: Uint8Array, at: number): string {
  return Array.from(bytes.subarray(at, at + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Decodes an Ethernet + IPv4 (no options) frame with ip-packet. */
export function decodeIpv4Frame(frame: Uint8Array): OracleFrame {
  const etherType = (frame[12] << 8) | frame[13];
  if (etherType !== 0x0800) throw new Error(`not IPv4: ethertype 0x${etherType.toString(16)}`);
  const packet = Buffer.from(frame.subarray(14));
  const ip = ipPacket.decode({ buffer: packet, start: 0, end: packet.length });
  const copy = Buffer.from(packet.subarray(0, 20));
  const computed = ipPacket.checksum(copy);
  return { destinationMac: mac(frame, 0), sourceMac: mac(frame, 6), etherType, ip, ipChecksumValid: computed === ip.checksum };
}

/** Naive RFC 1071 sum over a list of byte arrays concatenated. */
export function naiveChecksum(...parts: Uint8Array[]): number {
  const all: number[] = [];
  for (const p of parts) all.push(...p);
  if (all.length % 2) all.push(0);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all[i] * 256 + all[i + 1];
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

function ipv4Bytes(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

/** True when the L4 checksum (TCP/UDP, with pseudo-header) of a decoded packet verifies. */
export function l4ChecksumValid(ip: ipPacket.DecodedIpv4): boolean {
  const pseudo = new Uint8Array(12);
  pseudo.set(ipv4Bytes(ip.sourceIp), 0);
  pseudo.set(ipv4Bytes(ip.destinationIp), 4);
  pseudo[9] = ip.protocol;
  pseudo[10] = ip.data.length >> 8;
  pseudo[11] = ip.data.length & 0xff;
  return naiveChecksum(pseudo, ip.data) === 0;
}

/** True when an ICMP message's checksum verifies. */
export function icmpChecksumValid(ip: ipPacket.DecodedIpv4): boolean {
  return naiveChecksum(ip.data) === 0;
}

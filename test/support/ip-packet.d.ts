// Types for ip-packet 2.2.1 (it ships none): the independent IPv4 decoder our tests use as an oracle.
declare module 'ip-packet' {
  export interface CodecState {
    buffer: Uint8Array;
    start: number;
    end: number;
  }
  export interface DecodedIpv4 {
    version: number;
    ihl: number;
    dscp: number;
    ecn: number;
    length: number;
    identification: number;
    flags: number;
    fragmentOffset: number;
    ttl: number;
    protocol: number;
    sourceIp: string;
    destinationIp: string;
    checksum: number;
    data: Uint8Array;
  }
  /** Throws on IPv4 options (IHL > 5); does not verify checksums. */
  export function decode(state: CodecState): DecodedIpv4;
  /** Computes the header checksum of the 20-byte header AND overwrites bytes 10–11 of packet. */
  export function checksum(packet: Uint8Array): number;
  export function encode(state: CodecState, packet: Partial<DecodedIpv4> & { data: Buffer }): void;
  export function preencode(state: CodecState, packet: { data: Uint8Array }): void;
}

import { describe, expect, test } from 'vitest';
import { readUint16, readUint32, writeUint32 } from '../../src/wire/bytes.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { IpProtocol, writeIpv4Header } from '../../src/wire/ipv4.js';
import {
  fillTcpChecksumIpv4,
  fillTcpChecksumIpv6,
  fillTcpPseudoChecksumIpv4,
  parseTcpOptions,
  TCP_ACK,
  TCP_CHECKSUM_OFFSET,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_HEADER_LENGTH,
  TCP_MAX_SACK_BLOCKS,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
  TcpOptions,
  TcpSegment,
  writeMssOption,
  writeSackOption,
  writeSackPermittedOption,
  writeTcpHeader,
  writeTimestampOption,
  writeWindowScaleOption,
} from '../../src/wire/tcp.js';
import { decodeIpv4Frame, l4ChecksumValid, naiveChecksum } from '../support/oracle.js';
import {
  DNS_IP,
  GUEST_IP,
  hex,
  LO_TCP_ACK,
  LO_TCP_ACK_CHECKSUM,
  LO_TCP_DATA,
  LO_TCP_DATA_CHECKSUM,
  LO_TCP_SYN,
  LO_TCP_SYN_ACK,
  LO_TCP_SYN_ACK_CHECKSUM,
  LO_TCP_SYN_CHECKSUM,
  LOOPBACK,
  patched16,
  randomBytes,
  seeded,
  toHex,
} from './captured.js';

const SYN = patched16(LO_TCP_SYN, 34 + 16, LO_TCP_SYN_CHECKSUM);
const SYN_ACK = patched16(LO_TCP_SYN_ACK, 34 + 16, LO_TCP_SYN_ACK_CHECKSUM);
const ACK = patched16(LO_TCP_ACK, 34 + 16, LO_TCP_ACK_CHECKSUM);
const DATA = patched16(LO_TCP_DATA, 34 + 16, LO_TCP_DATA_CHECKSUM);

function segmentOf(frame: Uint8Array): TcpSegment {
  const tcp = new TcpSegment();
  expect(tcp.wrap(frame, 34, frame.length - 34)).toBe(DropReason.None);
  return tcp;
}

/** A 20-byte header followed by raw option bytes (padded with EOL to 4) in a fresh buffer. */
function withOptions(options: number[] | Uint8Array, payload = 0): { tcp: TcpSegment; out: TcpOptions; reason: DropReason } {
  const optionsLength = (options.length + 3) & ~3;
  const buf = new Uint8Array(TCP_HEADER_LENGTH + optionsLength + payload);
  writeTcpHeader(buf, 0, 1, 2, 3, 4, TCP_SYN, 5, optionsLength);
  buf.set(options, TCP_HEADER_LENGTH);
  const tcp = new TcpSegment();
  expect(tcp.wrap(buf, 0, buf.length)).toBe(DropReason.None);
  const out = new TcpOptions();
  return { tcp, out, reason: parseTcpOptions(tcp, out) };
}

describe('TCP segment view', () => {
  test('deconstruct: the captured Linux SYN', () => {
    const tcp = segmentOf(SYN);
    expect(tcp.sourcePort).toBe(42530);
    expect(tcp.destinationPort).toBe(47001);
    expect(tcp.sequence).toBe(3408208224);
    expect(tcp.acknowledgment).toBe(0);
    expect(tcp.headerLength).toBe(40);
    expect(tcp.flags).toBe(TCP_SYN);
    expect(tcp.window).toBe(65495);
    expect(tcp.checksum).toBe(LO_TCP_SYN_CHECKSUM);
    expect(tcp.urgentPointer).toBe(0);
    expect([tcp.optionsOffset, tcp.optionsLength, tcp.payloadOffset, tcp.payloadLength]).toEqual([54, 20, 74, 0]);
    expect(tcp.verifyChecksumIpv4(LOOPBACK, LOOPBACK)).toBe(true);
  });

  test('deconstruct: SYN-ACK, ACK and the data segment', () => {
    const synAck = segmentOf(SYN_ACK);
    expect([synAck.flags, synAck.sequence, synAck.acknowledgment, synAck.window]).toEqual([TCP_SYN | TCP_ACK, 1383282069, 3408208225, 65483]);
    expect(synAck.verifyChecksumIpv4(LOOPBACK, LOOPBACK)).toBe(true);
    const ack = segmentOf(ACK);
    expect([ack.flags, ack.headerLength, ack.window, ack.payloadLength]).toEqual([TCP_ACK, 32, 64, 0]);
    const data = segmentOf(DATA);
    expect([data.flags, data.payloadOffset, data.payloadLength]).toEqual([TCP_PSH | TCP_ACK, 66, 5]);
    expect(Buffer.from(DATA.subarray(data.payloadOffset, data.payloadOffset + data.payloadLength)).toString()).toBe('hello');
    expect(data.verifyChecksumIpv4(LOOPBACK, LOOPBACK)).toBe(true);
  });

  test('the partial checksums Linux left on lo are our offload pseudo-sums', () => {
    const buf = new Uint8Array(20);
    for (const [frame, length] of [[LO_TCP_SYN, 40], [LO_TCP_ACK, 32], [LO_TCP_DATA, 37]] as const) {
      fillTcpPseudoChecksumIpv4(buf, 0, LOOPBACK, LOOPBACK, length);
      expect(readUint16(buf, TCP_CHECKSUM_OFFSET)).toBe(readUint16(frame, 34 + 16));
    }
  });

  test('flag constants', () => {
    expect([TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR]).toEqual([1, 2, 4, 8, 16, 32, 64, 128]);
  });

  test('data offset: < 5 words → BadHeaderLength, beyond the segment → Truncated', () => {
    const tcp = new TcpSegment();
    for (let words = 0; words < 5; words++) {
      const b = ACK.slice();
      b[34 + 12] = words << 4;
      expect(tcp.wrap(b, 34, 32)).toBe(DropReason.BadHeaderLength);
    }
    const b = ACK.slice();
    b[34 + 12] = 9 << 4; // 36 bytes in a 32-byte segment
    expect(tcp.wrap(b, 34, 32)).toBe(DropReason.Truncated);
    b[34 + 12] = 15 << 4;
    expect(tcp.wrap(b, 34, 32)).toBe(DropReason.Truncated);
    b[34 + 12] = 8 << 4;
    expect(tcp.wrap(b, 34, 32)).toBe(DropReason.None);
    expect(tcp.payloadLength).toBe(0);
  });

  test('truncated at every length below the header → a DropReason, never throws', () => {
    const tcp = new TcpSegment();
    for (let length = 0; length < 40; length++) {
      expect(tcp.wrap(SYN, 34, length)).not.toBe(DropReason.None);
      expect(tcp.wrap(SYN.subarray(0, 34 + length), 34, 40)).toBe(DropReason.Truncated);
    }
  });

  test('every single-bit error fails checksum verification', () => {
    for (let at = 34; at < DATA.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = DATA.slice();
        b[at] ^= 1 << bit;
        const tcp = new TcpSegment();
        if (tcp.wrap(b, 34, 37) !== DropReason.None) continue; // data offset bits
        expect(tcp.verifyChecksumIpv4(LOOPBACK, LOOPBACK), `byte ${at} bit ${bit}`).toBe(false);
      }
    }
    expect(segmentOf(DATA).verifyChecksumIpv4(LOOPBACK, GUEST_IP)).toBe(false);
  });
});

describe('TCP options', () => {
  test('the captured SYN: mss 65495, sackOK, TS val 2522839765 ecr 0, nop, wscale 10 (Linux layout, unaligned)', () => {
    const out = new TcpOptions();
    expect(parseTcpOptions(segmentOf(SYN), out)).toBe(DropReason.None);
    expect(out).toMatchObject({ mss: 65495, windowScale: 10, sackPermitted: true, hasTimestamp: true, timestampValue: 2522839765, timestampEcho: 0, sackBlockCount: 0 });
    expect(parseTcpOptions(segmentOf(SYN_ACK), out)).toBe(DropReason.None);
    expect(out).toMatchObject({ mss: 65495, windowScale: 10, sackPermitted: true, timestampValue: 970527310, timestampEcho: 2522839765 });
  });

  test('the captured ACK: only timestamps; the options object is reset between segments', () => {
    const out = new TcpOptions();
    parseTcpOptions(segmentOf(SYN), out);
    expect(parseTcpOptions(segmentOf(ACK), out)).toBe(DropReason.None);
    expect(out).toMatchObject({ mss: 0, windowScale: -1, sackPermitted: false, hasTimestamp: true, timestampValue: 2522839765, timestampEcho: 970527310, sackBlockCount: 0 });
  });

  test('no options', () => {
    const { out, reason } = withOptions([]);
    expect(reason).toBe(DropReason.None);
    expect(out).toMatchObject({ mss: 0, windowScale: -1, sackPermitted: false, hasTimestamp: false, sackBlockCount: 0 });
  });

  test('EOL ends the list: anything after it is not parsed', () => {
    const { out, reason } = withOptions([0x00, 0x02, 0x04, 0x05, 0xb4, 0xff, 0xff, 0xff]);
    expect(reason).toBe(DropReason.None);
    expect(out.mss).toBe(0);
  });

  test('NOPs anywhere, unknown kinds skipped by length', () => {
    const { out, reason } = withOptions([1, 1, 1, 30, 6, 9, 9, 9, 9, 1, 2, 4, 0x05, 0xb4, 253, 2, 3, 3, 7]);
    expect(reason).toBe(DropReason.None);
    expect([out.mss, out.windowScale]).toEqual([1460, 7]);
  });

  test('window scale above 14 is clamped to 14 (RFC 7323 §2.3)', () => {
    expect(withOptions([3, 3, 15]).out.windowScale).toBe(14);
    expect(withOptions([3, 3, 255]).out.windowScale).toBe(14);
    expect(withOptions([3, 3, 0]).out.windowScale).toBe(0);
  });

  test('SACK blocks: 1 to 4, edges in order', () => {
    for (let count = 1; count <= TCP_MAX_SACK_BLOCKS; count++) {
      const edges = new Uint32Array(8);
      for (let k = 0; k < count * 2; k++) edges[k] = (0xfffffff0 + k * 0x10) >>> 0;
      const buf = new Uint8Array(4 + 8 * count);
      expect(writeSackOption(buf, 0, edges, count)).toBe(buf.length);
      const { out, reason } = withOptions(buf);
      expect(reason).toBe(DropReason.None);
      expect(out.sackBlockCount).toBe(count);
      expect(Array.from(out.sackBlocks.subarray(0, count * 2))).toEqual(Array.from(edges.subarray(0, count * 2)));
    }
  });

  test('a SACK option with no blocks is accepted, count 0', () => {
    const { out, reason } = withOptions([5, 2]);
    expect(reason).toBe(DropReason.None);
    expect(out.sackBlockCount).toBe(0);
  });

  test.each([
    ['length 0', [30, 0]],
    ['length 1', [2, 1, 0, 0]],
    ['kind without its length byte at the end', [1, 1, 1, 2]],
    ['length past the end of the options', [1, 8, 10, 0, 0, 0, 0, 0]],
    ['unknown option past the end', [30, 40]],
    ['MSS of length 3', [2, 3, 5, 0]],
    ['MSS of length 6', [2, 6, 0, 0, 5, 0xb4]],
    ['window scale of length 4', [3, 4, 7, 0]],
    ['window scale of length 2', [3, 2, 1, 1]],
    ['SACK-permitted of length 3', [4, 3, 0, 0]],
    ['timestamps of length 8', [8, 8, 0, 0, 0, 0, 0, 0]],
    ['timestamps of length 12', [8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['SACK of length 9', [5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['SACK of length 6', [5, 6, 0, 0, 0, 0, 0, 0]],
  ])('%s → BadOption', (_name, options) => {
    expect(withOptions(options).reason).toBe(DropReason.BadOption);
  });

  test('the parser keeps its preallocated SACK array', () => {
    const out = new TcpOptions();
    const array = out.sackBlocks;
    expect(array.length).toBe(8);
    parseTcpOptions(segmentOf(SYN), out);
    out.reset();
    expect(out.sackBlocks).toBe(array);
  });

  test('random option bytes never throw, and accepted results are sane', () => {
    const random = seeded(7323);
    const tcp = new TcpSegment();
    const out = new TcpOptions();
    const buf = new Uint8Array(60);
    for (let round = 0; round < 20000; round++) {
      const optionsLength = 4 * ((random() * 11) | 0);
      writeTcpHeader(buf, 0, 1, 2, 3, 4, TCP_SYN, 5, optionsLength);
      for (let i = 20; i < 20 + optionsLength; i++) buf[i] = random() < 0.3 ? [0, 1, 2, 3, 4, 5, 8][(random() * 7) | 0] : (random() * 256) | 0;
      expect(tcp.wrap(buf, 0, 20 + optionsLength)).toBe(DropReason.None);
      const reason = parseTcpOptions(tcp, out);
      expect(reason === DropReason.None || reason === DropReason.BadOption).toBe(true);
      expect(out.sackBlockCount).toBeLessThanOrEqual(TCP_MAX_SACK_BLOCKS);
      expect(out.windowScale).toBeLessThanOrEqual(14);
    }
  });
});

describe('TCP writers', () => {
  test('construct: the captured ACK, byte for byte, with the checksum tcpdump computed', () => {
    const buf = new Uint8Array(32);
    const at = writeTcpHeader(buf, 0, 42530, 47001, 0xcb252161, 0x52733596, TCP_ACK, 64, 12);
    expect(at).toBe(20);
    expect(writeTimestampOption(buf, at, 2522839765, 970527310)).toBe(32);
    fillTcpChecksumIpv4(buf, 0, 32, LOOPBACK, LOOPBACK, null);
    expect(toHex(buf)).toBe(toHex(ACK.subarray(34)));
  });

  test('construct: the captured data segment, payload in another buffer', () => {
    const buf = new Uint8Array(32);
    writeTcpHeader(buf, 0, 42530, 47001, 0xcb252161, 0x52733596, TCP_PSH | TCP_ACK, 64, 12);
    writeTimestampOption(buf, 20, 2522839765, 970527310);
    fillTcpChecksumIpv4(buf, 0, 32, LOOPBACK, LOOPBACK, Buffer.from('hello'));
    expect(readUint16(buf, 16)).toBe(LO_TCP_DATA_CHECKSUM);
    expect(toHex(buf)).toBe(toHex(DATA.subarray(34, 66)));
  });

  test('construct: a SYN with all our aligned options (BSD layout)', () => {
    const buf = new Uint8Array(44);
    let at = writeTcpHeader(buf, 0, 0xbf00, 80, 0x01234567, 0, TCP_SYN, 0xffff, 24);
    at = writeMssOption(buf, at, 1460);
    at = writeWindowScaleOption(buf, at, 7);
    at = writeSackPermittedOption(buf, at);
    at = writeTimestampOption(buf, at, 0x01020304, 0);
    expect(at).toBe(44);
    expect(toHex(buf.subarray(20))).toBe(toHex(hex('020405b4 01030307 01010402 0101080a 01020304 00000000')));
    expect(toHex(buf.subarray(0, 20))).toBe(toHex(hex('bf000050 01234567 00000000 b002ffff 00000000')));
    const tcp = new TcpSegment();
    const out = new TcpOptions();
    expect(tcp.wrap(buf, 0, 44)).toBe(DropReason.None);
    expect(parseTcpOptions(tcp, out)).toBe(DropReason.None);
    expect(out).toMatchObject({ mss: 1460, windowScale: 7, sackPermitted: true, hasTimestamp: true, timestampValue: 0x01020304, timestampEcho: 0 });
  });

  test('round trip of header fields at the extremes', () => {
    const buf = new Uint8Array(60);
    const tcp = new TcpSegment();
    for (const [seq, ack, flags, window, options] of [
      [0, 0, 0, 0, 0],
      [0xffffffff, 0xffffffff, 0xff, 0xffff, 40],
      [0x80000000, 1, TCP_RST | TCP_ACK, 1, 4],
    ]) {
      writeTcpHeader(buf, 0, 65535, 0, seq, ack, flags, window, options);
      expect(tcp.wrap(buf, 0, 20 + options)).toBe(DropReason.None);
      expect([tcp.sourcePort, tcp.destinationPort, tcp.sequence, tcp.acknowledgment, tcp.flags, tcp.window, tcp.headerLength, tcp.urgentPointer]).toEqual([
        65535, 0, seq, ack, flags, window, 20 + options, 0,
      ]);
    }
  });

  test('IPv6 checksum: fill then verify, equal to a naive pseudo-header sum', () => {
    const random = seeded(86);
    const addresses = randomBytes(random, 32);
    for (let round = 0; round < 50; round++) {
      const payload = randomBytes(random, (random() * 1400) | 0);
      const header = new Uint8Array(32);
      writeTcpHeader(header, 0, 443, 50000 + round, (random() * 2 ** 32) >>> 0, 7, TCP_ACK | TCP_PSH, 512, 12);
      writeTimestampOption(header, 20, round, round + 1);
      fillTcpChecksumIpv6(header, 0, 32, addresses, 0, addresses, 16, payload);
      const pseudo = new Uint8Array(40);
      pseudo.set(addresses);
      writeUint32(pseudo, 32, 32 + payload.length);
      pseudo[39] = IpProtocol.Tcp;
      expect(naiveChecksum(pseudo, header, payload)).toBe(0);
      const joined = new Uint8Array(32 + payload.length);
      joined.set(header);
      joined.set(payload, 32);
      const tcp = new TcpSegment();
      expect(tcp.wrap(joined, 0, joined.length)).toBe(DropReason.None);
      expect(tcp.verifyChecksumIpv6(addresses, 0, addresses, 16)).toBe(true);
      joined[joined.length - 1] ^= 0x01;
      expect(tcp.verifyChecksumIpv6(addresses, 0, addresses, 16)).toBe(false);
    }
  });

  test('cross-check: segments we build decode with ip-packet and verify with a naive checksum', () => {
    const random = seeded(9293);
    for (let round = 0; round < 100; round++) {
      const payload = randomBytes(random, (random() * 1448) | 0);
      const frame = new Uint8Array(14 + 20 + 32 + payload.length);
      frame[12] = 0x08;
      writeIpv4Header(frame, 14, DNS_IP, GUEST_IP, IpProtocol.Tcp, 32 + payload.length, 64, round);
      const seq = (random() * 2 ** 32) >>> 0;
      let at = writeTcpHeader(frame, 34, 80, 40000, seq, 12345, TCP_ACK, 29200, 12);
      at = writeTimestampOption(frame, at, 1, 2);
      frame.set(payload, at);
      // Contiguous segment: its whole length as "header", no separate payload.
      fillTcpChecksumIpv4(frame, 34, 32 + payload.length, DNS_IP, GUEST_IP, null);
      const decoded = decodeIpv4Frame(frame);
      expect(decoded.ipChecksumValid).toBe(true);
      expect(decoded.ip.protocol).toBe(6);
      expect(l4ChecksumValid(decoded.ip)).toBe(true);
      expect([readUint16(decoded.ip.data, 0), readUint32(decoded.ip.data, 4), decoded.ip.data[12] >> 4, decoded.ip.data.length]).toEqual([80, seq, 8, 32 + payload.length]);
    }
  });
});

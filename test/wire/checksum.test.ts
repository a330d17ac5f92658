import { describe, expect, test } from 'vitest';
import {
  finishChecksum,
  internetChecksum,
  ipv4PseudoHeaderSum,
  ipv6PseudoHeaderSum,
  sumBytes,
  sumUint32,
} from '../../src/wire/checksum.js';
import { readUint16, writeUint16, writeUint32 } from '../../src/wire/bytes.js';
import { naiveChecksum } from '../support/oracle.js';
import { hex, LO_TCP_SYN, randomBytes, seeded } from './captured.js';

describe('internet checksum (RFC 1071)', () => {
  test('the RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', () => {
    const bytes = hex('0001f203f4f5f6f7');
    expect(finishChecksum(sumBytes(bytes, 0, 8))).toBe(~0xddf2 & 0xffff);
    expect(internetChecksum(bytes, 0, 8)).toBe(0x220d);
  });

  test('a captured IPv4 header verifies to zero and recomputes to its stored checksum', () => {
    const header = LO_TCP_SYN.slice(14, 34);
    expect(internetChecksum(header, 0, 20)).toBe(0);
    const stored = readUint16(header, 10);
    writeUint16(header, 10, 0);
    expect(internetChecksum(header, 0, 20)).toBe(stored);
  });

  test('empty input sums to zero, checksum ffff', () => {
    expect(sumBytes(new Uint8Array(0), 0, 0)).toBe(0);
    expect(internetChecksum(new Uint8Array(0), 0, 0)).toBe(0xffff);
  });

  test('odd lengths are padded with a zero byte', () => {
    expect(internetChecksum(hex('01'), 0, 1)).toBe(~0x0100 & 0xffff);
    expect(internetChecksum(hex('0102 03'), 0, 3)).toBe(~(0x0102 + 0x0300) & 0xffff);
    const random = seeded(1071);
    for (let length = 0; length < 70; length++) {
      const bytes = randomBytes(random, length);
      expect(internetChecksum(bytes, 0, length)).toBe(naiveChecksum(bytes));
    }
  });

  test('offset and length select a range; bytes around it do not count', () => {
    const bytes = hex('ffff 0001f203f4f5f6f7 ffff');
    expect(internetChecksum(bytes, 2, 8)).toBe(0x220d);
    expect(internetChecksum(bytes.subarray(2), 0, 8)).toBe(0x220d);
  });

  test('agrees with a naive implementation on random data up to 64 KiB (seeded)', () => {
    const random = seeded(42);
    for (const length of [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1499, 1500, 9000, 65535, 65536]) {
      const bytes = randomBytes(random, length);
      expect(internetChecksum(bytes, 0, length), `length ${length}`).toBe(naiveChecksum(bytes));
    }
  });

  test('all-ones data (largest word values) does not lose carries over 64 KiB', () => {
    const bytes = new Uint8Array(65536).fill(0xff);
    expect(internetChecksum(bytes, 0, bytes.length)).toBe(naiveChecksum(bytes));
    expect(internetChecksum(bytes, 0, bytes.length)).toBe(0);
  });

  test('every alignment of the range and of its buffer view agrees with the naive sum (wide and narrow paths)', () => {
    const random = seeded(4);
    const memory = randomBytes(random, 5000);
    for (let viewStart = 0; viewStart < 4; viewStart++) {
      const view = memory.subarray(viewStart);
      for (let offset = 0; offset < 8; offset++) {
        for (const length of [0, 1, 2, 3, 127, 128, 129, 130, 131, 132, 1499, 1500, 4000]) {
          const expected = naiveChecksum(view.subarray(offset, offset + length));
          expect(internetChecksum(view, offset, length), `view+${viewStart} offset ${offset} length ${length}`).toBe(expected);
        }
      }
    }
  });

  test('alternating buffers, Node Buffer pool slices and a buffer replaced under the same view length', () => {
    const random = seeded(5);
    const a = randomBytes(random, 2000);
    const b = randomBytes(random, 3000);
    for (let round = 0; round < 20; round++) {
      const src = round % 2 === 0 ? a : b;
      expect(internetChecksum(src, 2, 1800)).toBe(naiveChecksum(src.subarray(2, 1802)));
    }
    for (let round = 0; round < 20; round++) {
      const pooled = Buffer.from(randomBytes(random, 200 + round)); // shares Node's 8 KiB pool, any byteOffset
      expect(internetChecksum(pooled, 0, pooled.length)).toBe(naiveChecksum(pooled));
    }
    const small = new Uint8Array(256).fill(1);
    expect(internetChecksum(small, 0, 256)).toBe(naiveChecksum(small));
    const large = new Uint8Array(70000).fill(0xfe);
    expect(internetChecksum(large, 4, 65535)).toBe(naiveChecksum(large.subarray(4, 65539)));
  });

  test('a sum over several even pieces equals the sum over their concatenation', () => {
    const random = seeded(7);
    for (let round = 0; round < 200; round++) {
      const length = 2 + ((random() * 3000) | 0);
      const bytes = randomBytes(random, length);
      const whole = internetChecksum(bytes, 0, length);
      // Cut into up to 5 pieces at even offsets; the last piece may be odd.
      let sum = 0;
      let at = 0;
      while (at < length) {
        let piece = Math.min(length - at, 2 * ((random() * 400) | 0));
        if (piece === 0) piece = length - at;
        sum = sumBytes(bytes, at, piece, sum);
        at += piece;
      }
      expect(finishChecksum(sum)).toBe(whole);
    }
  });

  test('pieces from different buffers: header + payload equals the copy', () => {
    const random = seeded(8);
    const header = randomBytes(random, 20);
    const payload = randomBytes(random, 1001);
    const joined = new Uint8Array(1021);
    joined.set(header);
    joined.set(payload, 20);
    expect(finishChecksum(sumBytes(payload, 0, payload.length, sumBytes(header, 0, 20)))).toBe(internetChecksum(joined, 0, 1021));
  });

  test('sumUint32 adds an address as two words', () => {
    expect(finishChecksum(sumUint32(0x0a000202))).toBe(internetChecksum(hex('0a000202'), 0, 4));
  });
});

describe('pseudo-headers', () => {
  test('IPv4 pseudo-header sum equals the sum of its 12 bytes', () => {
    const pseudo = hex('0a000264 0a000203 00 11 0025');
    expect(finishChecksum(ipv4PseudoHeaderSum(0x0a000264, 0x0a000203, 17, 0x25))).toBe(internetChecksum(pseudo, 0, 12));
  });

  test('the folded IPv4 pseudo-sum for 127.0.0.1 → 127.0.0.1 TCP/40 is fe30, the partial value Linux leaves on lo', () => {
    let sum = ipv4PseudoHeaderSum(0x7f000001, 0x7f000001, 6, 40);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xfe30);
  });

  test('IPv6 pseudo-header sum equals the sum of its 40 bytes (RFC 8200 §8.1)', () => {
    const random = seeded(6);
    const addresses = randomBytes(random, 40);
    for (const length of [0, 20, 1460, 70000]) {
      const pseudo = new Uint8Array(40);
      pseudo.set(addresses.subarray(4, 36));
      writeUint32(pseudo, 32, length);
      pseudo[39] = 6;
      expect(finishChecksum(ipv6PseudoHeaderSum(addresses, 4, addresses, 20, 6, length))).toBe(naiveChecksum(pseudo));
    }
  });
});

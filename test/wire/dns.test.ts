import { describe, expect, test } from 'vitest';
import {
  DNS_FLAG_QR,
  DNS_FLAG_RA,
  DNS_FLAG_RD,
  DNS_HEADER_LENGTH,
  DnsMessage,
  DnsRcode,
  writeDnsHeader,
} from '../../src/wire/dns.js';
import { DropReason } from '../../src/wire/drop-reason.js';
import { hex, randomBytes, seeded, toHex, VETH_DNS_QUERY } from './captured.js';

const QUERY = VETH_DNS_QUERY.subarray(42);

/** A response to QUERY: question, then an A record whose name is a pointer to offset 12. */
const RESPONSE = hex(
  '6898 8180 0001 0001 0000 0000' + '076578616d706c6503636f6d00 0001 0001' + 'c00c 0001 0001 00000e10 0004 5db8d822',
);

function message(bytes: Uint8Array): DnsMessage {
  const m = new DnsMessage();
  expect(m.wrap(bytes, 0, bytes.length)).toBe(DropReason.None);
  return m;
}

describe('DNS header', () => {
  test('deconstruct: the captured glibc query for example.com A', () => {
    const m = new DnsMessage();
    expect(m.wrap(VETH_DNS_QUERY, 42, QUERY.length)).toBe(DropReason.None);
    expect([m.id, m.flags, m.isResponse, m.opcode, m.rcode]).toEqual([0x6898, DNS_FLAG_RD, false, 0, 0]);
    expect([m.questionCount, m.answerCount, m.authorityCount, m.additionalCount]).toEqual([1, 0, 0, 0]);
    expect([m.firstQuestionType, m.firstQuestionClass]).toEqual([1, 1]);
    expect(m.parseFirstQuestion()).toBe(DropReason.None);
    expect([m.questionType, m.questionClass, m.questionEnd]).toEqual([1, 1, VETH_DNS_QUERY.length]);
    expect(m.skipName(42 + DNS_HEADER_LENGTH)).toBe(VETH_DNS_QUERY.length - 4);
  });

  test('deconstruct: a response, flags, and a compressed answer name', () => {
    const m = message(RESPONSE);
    expect([m.isResponse, m.opcode, m.rcode, m.flags & DNS_FLAG_RA, m.answerCount]).toEqual([true, 0, DnsRcode.NoError, DNS_FLAG_RA, 1]);
    expect(m.parseFirstQuestion()).toBe(DropReason.None);
    expect(m.skipName(m.questionEnd)).toBe(m.questionEnd + 2);
  });

  test('opcode and rcode bits', () => {
    const buf = new Uint8Array(12);
    writeDnsHeader(buf, 0, 1, DNS_FLAG_QR | (2 << 11) | DnsRcode.Refused, 0);
    const m = message(buf);
    expect([m.isResponse, m.opcode, m.rcode]).toEqual([true, 2, 5]);
  });

  test('construct: the captured query header', () => {
    const buf = new Uint8Array(14).fill(0xee);
    expect(writeDnsHeader(buf, 1, 0x6898, DNS_FLAG_RD, 1)).toBe(13);
    expect(toHex(buf.subarray(1, 13))).toBe(toHex(QUERY.subarray(0, 12)));
    expect([buf[0], buf[13]]).toEqual([0xee, 0xee]);
    writeDnsHeader(buf, 0, 0xffff, 0xffff, 0xffff, 0xfffe, 0xfffd, 0xfffc);
    const m = message(buf.subarray(0, 12));
    expect([m.id, m.flags, m.questionCount, m.answerCount, m.authorityCount, m.additionalCount]).toEqual([0xffff, 0xffff, 0xffff, 0xfffe, 0xfffd, 0xfffc]);
  });

  test('the root name, and a pointer chain within the hop limit', () => {
    const root = message(hex('0001 0100 0001 0000 0000 0000 00 0002 0001'));
    expect(root.parseFirstQuestion()).toBe(DropReason.None);
    expect([root.questionType, root.questionEnd]).toEqual([2, 17]);
    // Name at 12 = "a"; at 15 a pointer to 12; at 17 a pointer to 15; the question at 19 points to 17.
    const chain = message(hex('0001 0100 0001 0000 0000 0000 016100 c00c c00f' + 'c011 0001 0001').subarray(0));
    expect(chain.skipName(19)).toBe(21);
  });

  test('a pointer to itself, a forward pointer, and a loop → malformed', () => {
    const self = message(hex('0001 0100 0001 0000 0000 0000 c00c 0001 0001'));
    expect(self.skipName(12)).toBe(-1);
    expect(self.parseFirstQuestion()).toBe(DropReason.Malformed);
    const forward = message(hex('0001 0100 0001 0000 0000 0000 c00e 00 0001 0001'));
    expect(forward.parseFirstQuestion()).toBe(DropReason.Malformed);
    // Label then a pointer back to that label: a loop that only moves backwards by pointer.
    const loop = message(hex('0001 0100 0001 0000 0000 0000 0161 c00c 0001 0001'));
    expect(loop.parseFirstQuestion()).toBe(DropReason.Malformed);
  });

  test('a chain of more than 16 backward pointers → malformed', () => {
    const parts = ['0001 0100 0001 0000 0000 0000', '016100'];
    let target = 12;
    let at = 15;
    for (let k = 0; k < 20; k++) {
      parts.push((0xc000 | target).toString(16));
      target = at;
      at += 2;
    }
    parts.push('0001 0001');
    const m = message(hex(parts.join('')));
    expect(m.skipName(at - 2)).toBe(-1);
    expect(m.skipName(15 + 2 * 10)).toBe(15 + 2 * 11); // 11 hops: fine
  });

  test('a name longer than 255 bytes → malformed; exactly 255 is fine', () => {
    const label63 = '3f' + '61'.repeat(63);
    const tooLong = message(hex('0001 0100 0001 0000 0000 0000' + label63.repeat(4) + '00 0001 0001'));
    expect(tooLong.parseFirstQuestion()).toBe(DropReason.Malformed);
    // 3 × 64 + 62 = 254 bytes of labels + the root byte = 255.
    const longest = message(hex('0001 0100 0001 0000 0000 0000' + label63.repeat(3) + '3d' + '61'.repeat(61) + '00 0001 0001'));
    expect(longest.parseFirstQuestion()).toBe(DropReason.None);
  });

  test('reserved label types 0x40 and 0x80 → malformed', () => {
    for (const label of ['41', '81']) {
      const m = message(hex('0001 0100 0001 0000 0000 0000' + label + '00 0001 0001'));
      expect(m.parseFirstQuestion()).toBe(DropReason.Malformed);
    }
  });

  test('no question → Malformed; type/class cut off → Truncated', () => {
    const none = message(hex('0001 0100 0000 0000 0000 0000 00 0001 0001'));
    expect(none.parseFirstQuestion()).toBe(DropReason.Malformed);
    expect(none.firstQuestionType).toBe(-1);
    const cut = message(QUERY.subarray(0, QUERY.length - 1));
    expect(cut.parseFirstQuestion()).toBe(DropReason.Truncated);
    expect([cut.firstQuestionType, cut.firstQuestionClass]).toEqual([-1, -1]);
  });

  test('truncated at every length → a DropReason, never throws', () => {
    const m = new DnsMessage();
    for (let length = 0; length < QUERY.length; length++) {
      const reason = m.wrap(QUERY, 0, length);
      if (length < DNS_HEADER_LENGTH) {
        expect(reason).toBe(DropReason.Truncated);
        continue;
      }
      expect(reason).toBe(DropReason.None);
      expect(m.parseFirstQuestion()).not.toBe(DropReason.None);
      expect(m.firstQuestionType).toBe(-1);
    }
    for (let length = 0; length < RESPONSE.length; length++) {
      if (m.wrap(RESPONSE.subarray(0, length), 0, length) !== DropReason.None) continue;
      const answer = 12 + 17;
      if (length <= answer + 1) expect(m.skipName(answer)).toBe(-1);
    }
  });

  test('random bytes never throw; skipName stays in the message', () => {
    const random = seeded(1035);
    const m = new DnsMessage();
    for (let round = 0; round < 20000; round++) {
      const b = randomBytes(random, 12 + ((random() * 60) | 0));
      b[4] = 0;
      b[5] = 1;
      for (let i = 12; i < b.length; i++) if (random() < 0.3) b[i] = random() < 0.5 ? (random() * 8) | 0 : 0xc0;
      expect(m.wrap(b, 0, b.length)).toBe(DropReason.None);
      const reason = m.parseFirstQuestion();
      if (reason === DropReason.None) expect(m.questionEnd).toBeLessThanOrEqual(b.length);
      const after = m.skipName(12 + ((random() * (b.length - 12)) | 0));
      expect(after).toBeLessThanOrEqual(b.length);
    }
  });
});

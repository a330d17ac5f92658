/**
 * The engine's randomness comes from the Stack's RandomSource (src/stack/random.ts): with a
 * SeededRandom, the initial sequence number and fragment identifications (and so every frame) are
 * the same on every run; SystemRandom (the default) draws from the CSPRNG.
 */
import { describe, expect, test } from 'vitest';
import { SeededRandom, SystemRandom } from '../../src/stack/random.js';
import { decodeIpv4Frame } from '../support/oracle.js';
import { TcpContext } from '../support/tcp-context.js';
import { createUdpContext, ip } from '../support/udp-context.js';

function draws(source: { uint32(): number }, count: number): number[] {
  return Array.from({ length: count }, () => source.uint32());
}

describe('random sources', () => {
  test('SeededRandom: the same seed gives the same 32-bit integers, another seed others', () => {
    const a = draws(new SeededRandom(7), 100);
    expect(draws(new SeededRandom(7), 100)).toEqual(a);
    expect(draws(new SeededRandom(8), 100)).not.toEqual(a);
    for (const value of a) expect(Number.isInteger(value) && value >= 0 && value < 2 ** 32).toBe(true);
  });

  test('SystemRandom: 32-bit integers, fresh across pool refills', () => {
    const values = draws(new SystemRandom(), 300);
    for (const value of values) expect(Number.isInteger(value) && value >= 0 && value < 2 ** 32).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(290);
  });
});

describe('the engine draws from the stack\'s source', () => {
  test('the TCP initial sequence number is the seed\'s first draw', async () => {
    for (const seed of [1, 2]) {
      const connection = await new TcpContext({ seed }).open();
      expect(connection.remoteFirst).toBe((new SeededRandom(seed).uint32() + 1) >>> 0);
    }
  });

  test('fragments of a large UDP reply are byte for byte the same for the same seed', async () => {
    const reply = async (seed: number): Promise<Uint8Array[]> => {
      const ctx = createUdpContext({ seed });
      ctx.send({ dst: ip('10.0.2.2'), dstPort: 7 });
      ctx.port.last.deliver(Buffer.alloc(3000, 0x5a), '127.0.0.1', 7);
      return ctx.emitted();
    };
    const first = await reply(3);
    expect(first.length).toBeGreaterThan(1);
    expect(await reply(3)).toEqual(first);
    const identification = (frames: Uint8Array[]): number => decodeIpv4Frame(frames[0]).ip.identification;
    expect(identification(await reply(4))).not.toBe(identification(first));
  });
});

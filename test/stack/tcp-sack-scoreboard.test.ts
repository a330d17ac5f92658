/**
 * The sender's SACK scoreboard on its own: merging, D-SACK and out-of-range blocks, the bound on
 * ranges, dropping below una (also across sequence-number wrap), the queries the sender's transmit
 * and hole repair use, and a differential run against a plain array model of the same rules.
 */
import { describe, expect, it } from 'vitest';
import { MAX_SACK_RANGES, SackScoreboard } from '../../src/stack/tcp/sack-scoreboard.js';
import { seqDiff, seqGt, seqLt } from '../../src/wire/tcp-seq.js';

const blocks = (...pairs: [number, number][]): Uint32Array => new Uint32Array(pairs.flat().map((n) => n >>> 0));

function scoreboardOf(...pairs: [number, number][]): SackScoreboard {
  const board = new SackScoreboard();
  for (const [l, r] of pairs) board.add(l >>> 0, r >>> 0);
  return board;
}

describe('SackScoreboard', () => {
  it('holds no array until its first range (a flow never SACKed allocates none), and answers queries meanwhile', () => {
    const before = process.memoryUsage().arrayBuffers;
    const boards = Array.from({ length: 20_000 }, () => new SackScoreboard());
    // Eagerly allocated edges were 264 bytes each: 5.3 MB here.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    const board = boards[0];
    board.dropBelow(100);
    expect(board.isEmpty).toBe(true);
    expect(board.endOfRangeAt(100)).toBe(100);
    expect(board.nextRangeAfter(100, 200)).toBe(200);
    expect(board.record(blocks([150, 160]), 1, 100, 200)).toBe(true);
    expect(board.toPairs()).toEqual([[150, 160]]);
    expect(board.endOfRangeAt(150)).toBe(160);
  });

  it('keeps ranges sorted and merges touching and overlapping ones', () => {
    const board = scoreboardOf([300, 400], [100, 200]);
    expect(board.toPairs()).toEqual([[100, 200], [300, 400]]);
    expect(board.bytes).toBe(200);
    board.add(200, 300); // touches both
    expect(board.toPairs()).toEqual([[100, 400]]);
    board.add(350, 500);
    board.add(50, 120);
    expect(board.toPairs()).toEqual([[50, 500]]);
    expect(board.bytes).toBe(450);
    expect(board.highest).toBe(500);
  });

  it('a new range between others shifts the ones above it', () => {
    const board = scoreboardOf([100, 110], [300, 310], [500, 510]);
    board.add(200, 210);
    expect(board.toPairs()).toEqual([[100, 110], [200, 210], [300, 310], [500, 510]]);
    board.add(205, 305); // swallows [300, 310)'s left edge and joins [200, 210)
    expect(board.toPairs()).toEqual([[100, 110], [200, 310], [500, 510]]);
  });

  it('record ignores D-SACKs, empty blocks and blocks beyond what was sent; says whether bytes are new', () => {
    const board = new SackScoreboard();
    expect(board.record(blocks([50, 90], [120, 120], [900, 1100]), 3, 100, 1000)).toBe(false);
    expect(board.isEmpty).toBe(true);
    expect(board.record(blocks([200, 300]), 1, 100, 1000)).toBe(true);
    expect(board.record(blocks([200, 300]), 1, 100, 1000)).toBe(false); // nothing new
    expect(board.record(blocks([250, 350], [400, 500]), 2, 100, 1000)).toBe(true);
    expect(board.toPairs()).toEqual([[200, 350], [400, 500]]);
  });

  it('holds at most MAX_SACK_RANGES ranges, forgetting the lowest', () => {
    const board = new SackScoreboard();
    for (let i = 0; i <= MAX_SACK_RANGES; i++) board.add(1000 + i * 100, 1000 + i * 100 + 10);
    expect(board.rangeCount).toBe(MAX_SACK_RANGES);
    expect(board.left(0)).toBe(1100);
    expect(board.highest).toBe(1000 + MAX_SACK_RANGES * 100 + 10);
    expect(board.bytes).toBe(MAX_SACK_RANGES * 10);
  });

  it('dropBelow forgets covered ranges and trims a straddling one, across the wrap', () => {
    const base = 0xffff_ff00;
    const board = scoreboardOf([base + 16, base + 32], [base + 64, base + 0x120], [base + 0x200, base + 0x210]);
    board.dropBelow((base + 0x100) >>> 0); // una after the wrap
    expect(board.toPairs()).toEqual([[0, 0x20], [0x100, 0x110]]);
    expect(board.bytes).toBe(0x30);
    board.dropBelow(0x200);
    expect(board.isEmpty).toBe(true);
    expect(board.bytes).toBe(0);
  });

  it('answers where transmission may start and where a hole ends', () => {
    const board = scoreboardOf([200, 300], [400, 500]);
    expect(board.endOfRangeAt(100)).toBe(100);
    expect(board.endOfRangeAt(200)).toBe(300);
    expect(board.endOfRangeAt(299)).toBe(300);
    expect(board.endOfRangeAt(300)).toBe(300);
    expect(board.nextRangeAfter(100, 1000)).toBe(200);
    expect(board.nextRangeAfter(300, 1000)).toBe(400);
    expect(board.nextRangeAfter(300, 350)).toBe(350);
    expect(board.nextRangeAfter(450, 1000)).toBe(1000);
    board.clear();
    expect(board.endOfRangeAt(200)).toBe(200);
    expect(board.nextRangeAfter(100, 1000)).toBe(1000);
  });

  it('agrees with a plain array model over random blocks and acks', () => {
    // The model: the rules written with splice on a number[], as the sender kept them before.
    const model: number[] = [];
    const modelAdd = (left: number, right: number): void => {
      let i = 0;
      while (i < model.length && seqLt(model[i + 1], left)) i += 2;
      let l = left;
      let r = right;
      let j = i;
      while (j < model.length && !seqGt(model[j], r)) {
        if (seqLt(model[j], l)) l = model[j];
        if (seqGt(model[j + 1], r)) r = model[j + 1];
        j += 2;
      }
      model.splice(i, j - i, l, r);
      if (model.length > 2 * MAX_SACK_RANGES) model.splice(0, model.length - 2 * MAX_SACK_RANGES);
    };
    const modelDrop = (una: number): void => {
      let i = 0;
      while (i < model.length && !seqGt(model[i + 1], una)) i += 2;
      if (i > 0) model.splice(0, i);
      if (model.length > 0 && seqLt(model[0], una)) model[0] = una;
    };
    let state = 12345;
    const random = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    const board = new SackScoreboard();
    let una = 0xffff_0000;
    for (let step = 0; step < 3000; step++) {
      if (random(8) === 0) {
        una = (una + random(3000)) >>> 0;
        board.dropBelow(una);
        modelDrop(una);
      } else {
        const left = (una + random(200_000)) >>> 0;
        const right = (left + 1 + random(4000)) >>> 0;
        board.add(left, right);
        modelAdd(left, right);
      }
      const pairs: [number, number][] = [];
      for (let i = 0; i < model.length; i += 2) pairs.push([model[i], model[i + 1]]);
      expect(board.toPairs()).toEqual(pairs);
      let total = 0;
      for (let i = 0; i < model.length; i += 2) total += seqDiff(model[i + 1], model[i]);
      expect(board.bytes).toBe(total);
    }
  });
});

/**
 * mallocLimitArenas (native/malloc_control.c, used by src/cli/malloc-arenas.ts): once set to 1,
 * threads that start allocating get no malloc arena of their own. Each case runs in a child Node
 * whose worker threads allocate native memory (ArrayBuffers of 64 KiB, below the mmap threshold:
 * from the calling thread's arena); the child counts glibc's non-main arenas in /proc/self/maps
 * (each a 64 MiB-aligned reservation: a read-write head and the PROT_NONE rest, 64 MiB together)
 * before and after. Without the limit the same children grow arenas: the count works.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { packageRoot } from '../../src/native/native-addon.js';

const ADDON = join(packageRoot(), 'build', 'Release', 'tslirp_native.node');

const CHILD = String.raw`
const { readFileSync } = require('node:fs');
const { Worker } = require('node:worker_threads');
const addon = require(process.argv[1]);
const HEAP_MAX = 64 * 1024 * 1024;
function arenas() {
  const maps = readFileSync('/proc/self/maps', 'utf8').trim().split('\n').map((line) => {
    const [range, perms] = line.split(' ');
    const [start, end] = range.split('-').map((hex) => BigInt('0x' + hex));
    return { start, end, perms, anonymous: line.trim().split(/\s+/).length === 5 };
  });
  let count = 0;
  for (let i = 0; i + 1 < maps.length; i++) {
    const head = maps[i], rest = maps[i + 1];
    if (head.anonymous && rest.anonymous && head.perms === 'rw-p' && rest.perms === '---p' && head.start % BigInt(HEAP_MAX) === 0n && rest.start === head.end && rest.end - head.start === BigInt(HEAP_MAX)) count++;
  }
  return count;
}
if (process.argv[2] === 'limit') addon.mallocLimitArenas(1);
const before = arenas();
const code = 'const kept = []; for (let i = 0; i < 64; i++) kept.push(new ArrayBuffer(64 * 1024)); require("node:worker_threads").parentPort.postMessage(kept.length);';
let done = 0;
const workers = [];
for (let i = 0; i < 4; i++) {
  const worker = new Worker(code, { eval: true });
  workers.push(worker);
  worker.on('message', () => {
    if (++done < 4) return;
    console.log(JSON.stringify({ before, after: arenas() }));
    for (const w of workers) w.terminate();
  });
}
`;

function run(mode: 'limit' | 'default'): { before: number; after: number } {
  return JSON.parse(execFileSync(process.execPath, ['-e', CHILD, ADDON, mode], { encoding: 'utf8', timeout: 20_000 })) as { before: number; after: number };
}

describe('mallocLimitArenas', () => {
  test.skipIf(!existsSync(ADDON))('threads that allocate after the limit get no arena of their own', () => {
    const unlimited = run('default');
    expect(unlimited.after).toBeGreaterThan(unlimited.before); // the count sees arenas appear
    const limited = run('limit');
    expect(limited.after).toBe(limited.before);
  });
});

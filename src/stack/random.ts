/**
 * The engine's only source of randomness (TCP initial sequence numbers, IPv4 fragment
 * identifications), a port like the Clock: production draws from the operating system's CSPRNG
 * (RFC 6528 wants initial sequence numbers an off-path attacker cannot guess); tests pass a
 * SeededRandom so every frame the engine sends is the same on every run.
 */
import { openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mulberry32 } from '../link/fault-link.js';

export interface RandomSource {
  /** A uniformly distributed integer in [0, 2^32). */
  uint32(): number;
}

/**
 * The kernel's CSPRNG: /dev/urandom, opened once per process (kept open, so draws still work once
 * the sandbox's root has no /dev), else node:crypto. Not node:crypto first: loading it is some 20
 * modules, ~7 ms of every start (bench/startup.ts), and the engine draws at construction with IPv6.
 */
let urandomFd: number | undefined;
let cryptoFill: ((pool: Uint32Array) => void) | undefined;

function fillFromSystem(pool: Uint32Array): void {
  if (urandomFd === undefined && cryptoFill === undefined) {
    try {
      urandomFd = openSync('/dev/urandom', 'r');
    } catch {
      const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
      cryptoFill = (p) => crypto.randomFillSync(p);
    }
  }
  if (cryptoFill !== undefined) return cryptoFill(pool);
  // /dev/urandom never returns short for reads of up to 32 MiB (random(4)); checked all the same.
  if (readSync(urandomFd as number, pool) !== pool.byteLength) throw new Error('short read from /dev/urandom');
}

/** Cryptographically secure, drawn 64 values at a time (no allocation per call). */
export class SystemRandom implements RandomSource {
  private readonly pool = new Uint32Array(64);
  private next = this.pool.length;

  constructor() {
    // The first fill now, while /dev is still in this process's root (before the sandbox's pivot).
    fillFromSystem(this.pool);
    this.next = 0;
  }

  uint32(): number {
    if (this.next === this.pool.length) {
      fillFromSystem(this.pool);
      this.next = 0;
    }
    return this.pool[this.next++];
  }
}

/** Reproducible from its seed (mulberry32, as FaultLink's); for tests, never for production. */
export class SeededRandom implements RandomSource {
  private readonly fraction: () => number;

  constructor(seed: number) {
    this.fraction = mulberry32(seed);
  }

  uint32(): number {
    // mulberry32 yields k / 2^32 for an integer k: this gives k back exactly.
    return this.fraction() * 0x1_0000_0000;
  }
}

/**
 * The engine's only source of randomness (TCP initial sequence numbers, IPv4 fragment
 * identifications), a port like the Clock: production draws from the operating system's CSPRNG
 * (RFC 6528 wants initial sequence numbers an off-path attacker cannot guess); tests pass a
 * SeededRandom so every frame the engine sends is the same on every run.
 */
import { randomFillSync } from 'node:crypto';
import { mulberry32 } from '../link/fault-link.js';

export interface RandomSource {
  /** A uniformly distributed integer in [0, 2^32). */
  uint32(): number;
}

/** Cryptographically secure: node:crypto, drawn 64 values at a time (no allocation per call). */
export class SystemRandom implements RandomSource {
  private readonly pool = new Uint32Array(64);
  private next = this.pool.length;

  uint32(): number {
    if (this.next === this.pool.length) {
      randomFillSync(this.pool);
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

/**
 * Packet-level test context: a Stack on a MemoryLink and a FakeClock. Tests inject frames as the
 * guest would send them and assert on the frames the engine emits (gVisor's context.go, in small).
 */
import { MemoryLink, type MemoryLinkOptions } from '../../src/link/memory-link.js';
import { FakeClock } from '../../src/stack/clock.js';
import type { NetworkConfigInput } from '../../src/stack/config.js';
import { SeededRandom } from '../../src/stack/random.js';
import { Stack } from '../../src/stack/stack.js';
import { parseMac } from '../../src/wire/bytes.js';
import { formatIpv4, parseIpv4 } from '../../src/wire/ip-address.js';
import { IPV4, type IpFrameOptions } from './ip-family.js';
import { mulberry32 } from '../../src/link/fault-link.js';

export const GUEST_MAC = parseMac('02:00:00:00:01:00')!;
export const GUEST_IP = parseIpv4('10.0.2.100')!;
export const GATEWAY_IP = parseIpv4('10.0.2.2')!;
export const DNS_IP = parseIpv4('10.0.2.3')!;
export const GATEWAY_MAC = parseMac('52:55:0a:00:02:02')!;

export interface StackContext {
  link: MemoryLink;
  clock: FakeClock;
  stack: Stack;
  /** Injects frames as one batch and returns everything the engine transmitted in response. */
  exchange(frames: Uint8Array | Uint8Array[]): Uint8Array[];
}

export function createStackContext(
  options: { config?: NetworkConfigInput; link?: MemoryLinkOptions; start?: boolean; seed?: number } = {},
): StackContext {
  const link = new MemoryLink(options.link);
  const clock = new FakeClock();
  // Seeded: initial sequence numbers and fragment identifications are the same on every run.
  const stack = new Stack(link, { config: { mtu: link.mtu, ...options.config }, clock, random: new SeededRandom(options.seed ?? 1) });
  if (options.start !== false) stack.start();
  return {
    link,
    clock,
    stack,
    exchange(frames) {
      link.inject(frames);
      return link.take();
    },
  };
}

/** An Ethernet + IPv4 frame from the guest (or anyone) carrying payload as protocol `protocol` (IPV4.frame with numeric addresses). */
export function ipv4Frame(source: number, destination: number, protocol: number, payload: Uint8Array, options: IpFrameOptions = {}): Uint8Array {
  return IPV4.frame(formatIpv4(source), formatIpv4(destination), protocol, payload, options);
}

/**
 * An address as a test names it: a number is an IPv4 address (uint32, as the engine keys it), text is
 * either family's; the text form for frame builders.
 */
export type TestAddress = number | string;

export function addressText(address: TestAddress): string {
  return typeof address === 'number' ? formatIpv4(address) : address;
}

/** Deterministic PRNG (FaultLink's mulberry32) so randomised tests are reproducible from their seed. */
export const seededRandom: (seed: number) => () => number = mulberry32;

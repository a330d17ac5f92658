/**
 * tslirp as a library: run the engine on any Link (a TAP device, or a MemoryLink in tests and other
 * programs), on real or fake time, and read its stats. Only this surface is public; everything else
 * under src/ is internal and may change.
 */
export { Stack, type StackOptions, type Ipv4Receiver, type BatchObserver } from './stack/stack.js';
export { resolveNetworkConfig, type NetworkConfig, type NetworkConfigInput, type Limits } from './stack/config.js';
export { FakeClock, SystemClock, type Clock, type TimerHandle } from './stack/clock.js';
export type { StatsSnapshot } from './stack/stats.js';
export { MemoryLink, type MemoryLinkOptions } from './link/memory-link.js';
export {
  FRAME_CHECKSUM_PARTIAL,
  FRAME_CHECKSUM_VALID,
  NO_OFFLOADS,
  type FrameBatch,
  type FrameSink,
  type Link,
  type LinkOffloads,
  type TxInfo,
} from './link/link.js';
export { DropReason, dropReasonName } from './wire/drop-reason.js';
export { formatIpv4, formatMac, parseIpv4, parseMac } from './wire/bytes.js';

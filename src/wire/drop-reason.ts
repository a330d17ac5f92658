/**
 * Why a frame was not accepted. Errors are data, not exceptions: codecs return one of these,
 * the engine counts it per reason (stats) and logs it at debug. Never thrown.
 *
 * Values are small consecutive integers so counters can live in one Uint32Array indexed by reason.
 */
export enum DropReason {
  None = 0,
  // Wire: the bytes do not describe a well-formed packet.
  Truncated,
  BadLength,
  BadChecksum,
  BadVersion,
  BadHeaderLength,
  BadOption,
  BadAddress,
  // Engine: well-formed, but not something we accept or forward.
  UnsupportedEtherType,
  UnsupportedProtocol,
  UnsupportedArp,
  NotForUs,
  TtlExpired,
  Fragment,
  FragmentOverlap,
  ReassemblyLimit,
  NoHandler,
  NoFlow,
  TableFull,
  Blocked,
  Malformed,
  HostError,
  // IPv6 (appended so the numbers above keep their meaning).
  /** A misplaced Hop-by-Hop header, or a Routing header we would have to act on (segments left). */
  BadExtensionHeader,
  /** More extension headers than IPV6_MAX_EXTENSION_HEADERS. */
  HeaderChainTooLong,
  /** A Neighbor Discovery message that fails the validity checks of RFC 4861 (hop limit, code, options). */
  InvalidNdp,
  /** Our own exception while handling the frame (a bug, contained: see FaultLog). */
  InternalError,
}

export const DROP_REASON_COUNT = Object.keys(DropReason).length / 2;

/** Stable lower-case names for stats output and logs. */
export function dropReasonName(reason: DropReason): string {
  const name = DropReason[reason] ?? 'Unknown';
  return name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : '_' + c.toLowerCase()));
}

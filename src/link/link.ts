/**
 * The Link port: how frames enter and leave the engine.
 *
 * A link knows Ethernet frames, never protocols. Received frames arrive in batches (one per wakeup)
 * as offsets into one backing buffer, so a batch costs no allocation per frame. Frames to send are
 * handed over as a head (L2–L4 headers) and an optional body (payload), gathered by the link, so the
 * engine never copies payload just to prepend a header (the TAP link copies head and body once, into
 * the transmit area its native writer reads).
 */

/** What the device offloads; fixed once the link is open. */
export interface LinkOffloads {
  /**
   * The link delivers frames whose L4 checksum may be left partial by the guest (virtio NEEDS_CSUM)
   * and sets FRAME_CHECKSUM_PARTIAL on them; the engine must not verify their L4 checksum.
   */
  readonly rxChecksumPartial: boolean;
  /** The link accepts TCP segments larger than the MTU (TSO4/TSO6) with TxInfo.gsoSize set. */
  readonly tso: boolean;
  /** The link accepts frames with a partial L4 checksum (TxInfo.checksumStart/Offset set). */
  readonly txChecksumOffload: boolean;
}

export const NO_OFFLOADS: LinkOffloads = Object.freeze({
  rxChecksumPartial: false,
  tso: false,
  txChecksumOffload: false,
});

/** Per-frame flags in a received batch. */
export const FRAME_CHECKSUM_PARTIAL = 1; // L4 checksum not filled in yet (guest offload): do not verify
export const FRAME_CHECKSUM_VALID = 2; // the device already verified the L4 checksum

/**
 * A batch of received frames: frame i is data[offsets[i] .. offsets[i] + lengths[i]).
 * Valid only during the receive call; the link reuses its storage afterwards.
 */
export interface FrameBatch {
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly flags: Uint8Array;
  readonly count: number;
  /**
   * For frames that a GSO-capable device delivered larger than the MTU (guest TSO): the MSS the guest
   * would have cut them to, else 0. Lets the engine size its ACK/window behaviour; optional.
   */
  readonly gsoSizes?: Uint16Array;
}

/** Receives batches from a link. */
export interface FrameSink {
  receiveBatch(batch: FrameBatch): void;
}

/**
 * Offload metadata for one transmitted frame (the virtio_net_hdr fields). Reused by the caller:
 * links must copy what they need during transmit().
 */
export interface TxInfo {
  /** 0: no segmentation. Else the MSS the device cuts this TCP super-frame into. */
  gsoSize: number;
  /** true for TCP over IPv6 (GSO type TCPV6), false for TCPv4. */
  gsoIpv6: boolean;
  /** Length of L2+L3+L4 headers (virtio hdr_len). */
  headerLength: number;
  /** 0: checksum complete. Else the frame offset where checksumming starts (L4 header). */
  checksumStart: number;
  /** Offset of the checksum field from checksumStart. */
  checksumOffset: number;
}

export interface Link {
  /** The MTU of the guest interface (IP packet size, without the Ethernet header). */
  readonly mtu: number;
  readonly offloads: LinkOffloads;
  /** Starts delivering received batches to sink. Called once. */
  start(sink: FrameSink): void;
  /**
   * Queues one frame: head followed by body (either may be empty). The link takes what it needs of
   * both before transmit() returns: the engine reuses its buffers right away (every header is built
   * in one scratch buffer; a TCP segment that spans two host reads is gathered in one scratch area).
   * A link that wanted to write body straight from the engine's buffers at flush() would need the
   * engine to keep them unchanged until then; none does today.
   * info, when given, carries offload metadata; it is only honoured if offloads allow it.
   */
  transmit(head: Uint8Array, body: Uint8Array | null, info?: TxInfo): void;
  /** Sends everything queued since the last flush (one batch per engine wakeup). */
  flush(): void;
  /** Stops receiving and releases the device. Idempotent. */
  close(): void;
}

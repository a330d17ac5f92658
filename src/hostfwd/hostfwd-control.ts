/**
 * What the API socket (and library users) may ask of the published-port table: add, remove, list.
 * Plain data in and out; no sockets, no packets. HostfwdTable implements it.
 */

export type HostfwdProto = 'tcp' | 'udp';

export interface HostfwdRequest {
  readonly proto: HostfwdProto;
  /** Numeric IPv4 or IPv6 address to listen on, exactly ("0.0.0.0", "127.0.0.2", "::1"). */
  readonly hostAddr: string;
  readonly hostPort: number;
  /**
   * Numeric guest address the flows are opened to: IPv4 (any, as slirp4netns), or with IPv6 on an
   * IPv6 address of the guest's prefix that is not ours (fd00::2, fd00::3) — beyond slirp4netns.
   */
  readonly guestAddr: string;
  readonly guestPort: number;
}

export interface HostfwdEntry extends HostfwdRequest {
  /** Counts up from 1, never reused. */
  readonly id: number;
}

/** A request argument the table refuses as such (the API answers `bad arguments.FIELD`). */
export class HostfwdArgumentError extends Error {
  constructor(
    readonly field: 'host_addr' | 'guest_addr',
    message: string,
  ) {
    super(message);
    this.name = 'HostfwdArgumentError';
  }
}

export interface HostfwdControl {
  /**
   * Listens on hostAddr:hostPort; resolves with the new id, rejects with the reason when it cannot
   * (a HostfwdArgumentError for an address it does not take).
   */
  add(request: HostfwdRequest): Promise<number>;
  /** Closes the listener (open flows continue); false for an unknown id. */
  remove(id: number): Promise<boolean>;
  /** In the order they were added. */
  list(): readonly HostfwdEntry[];
}

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
  /** Dotted-quad guest address the flows are opened to. */
  readonly guestAddr: string;
  readonly guestPort: number;
}

export interface HostfwdEntry extends HostfwdRequest {
  /** Counts up from 1, never reused. */
  readonly id: number;
}

export interface HostfwdControl {
  /** Listens on hostAddr:hostPort; resolves with the new id, rejects with the reason when it cannot. */
  add(request: HostfwdRequest): Promise<number>;
  /** Closes the listener (open flows continue); false for an unknown id. */
  remove(id: number): Promise<boolean>;
  /** In the order they were added. */
  list(): readonly HostfwdEntry[];
}

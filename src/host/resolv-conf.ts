/**
 * The host's resolver, from resolv.conf: the first `nameserver` line with a numeric IPv4 or IPv6
 * address (a scoped one like fe80::1%eth0 included), port 53, as libslirp/slirp4netns take it.
 *
 * Re-read when the file changes (NetworkManager, systemd-resolved, a VPN client rewrite or replace it
 * while containers run): every current() makes one stat() and compares mtime, ctime, size and inode
 * with the last read, so a change is seen on the next query, an unchanged file costs one syscall, and
 * no watcher or timer keeps state. A symlink (systemd's stub-resolv.conf) is followed.
 *
 * A missing or unreadable file, or one without a usable nameserver, yields undefined (the DNS address
 * then answers nothing) and one log line per change of state, never an exception.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import { isIP } from 'node:net';
import type { HostEndpoint } from '../stack/host-address-map.js';
import type { Logger } from '../stack/logger.js';

export const RESOLV_CONF_PATH = '/etc/resolv.conf';
export const DNS_PORT = 53;

/** Every `nameserver` in resolv.conf text with a numeric address, in order (port 53). */
export function parseResolvConf(text: string): HostEndpoint[] {
  const found: HostEndpoint[] = [];
  for (const raw of text.split('\n')) {
    // resolv.conf(5): comments start with ; or # in the first column; glibc also cuts trailing ones.
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    // glibc accepts a bracketed IPv6 address too; anything else (names, garbage) is skipped.
    const address = m[1].replace(/^\[(.*)\]$/, '$1');
    if (isIP(address) === 0) continue;
    found.push({ address, port: DNS_PORT });
  }
  return found;
}

export interface ResolvConfReaderOptions {
  /** Default /etc/resolv.conf. */
  readonly path?: string;
  readonly logger?: Logger;
}

export class ResolvConfReader {
  readonly path: string;
  private readonly logger: Logger | undefined;
  private signature = '';
  private upstream: HostEndpoint | undefined;
  private lastProblem = '';

  constructor(options: ResolvConfReaderOptions = {}) {
    this.path = options.path ?? RESOLV_CONF_PATH;
    this.logger = options.logger;
  }

  /** The first nameserver as it is in the file now, or undefined. */
  current(): HostEndpoint | undefined {
    let stats: Stats | undefined;
    try {
      stats = statSync(this.path, { throwIfNoEntry: false });
    } catch (error) {
      return this.fail(`cannot stat ${this.path}: ${(error as Error).message}`);
    }
    if (stats === undefined) return this.fail(`${this.path} does not exist`);
    const signature = `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
    if (signature === this.signature) return this.upstream;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      return this.fail(`cannot read ${this.path}: ${(error as Error).message}`);
    }
    this.signature = signature;
    const first = parseResolvConf(text)[0];
    if (first === undefined) {
      this.upstream = undefined;
      this.report(`${this.path} has no numeric nameserver`);
      return undefined;
    }
    const changed = this.upstream?.address !== first.address;
    this.upstream = first;
    if (changed || this.lastProblem !== '') this.logger?.info(`DNS: forwarding queries to ${first.address} port 53 (first nameserver in ${this.path})`);
    this.lastProblem = '';
    return first;
  }

  private fail(problem: string): undefined {
    // Read again once the file is back, whatever its times.
    this.signature = '';
    this.upstream = undefined;
    this.report(problem);
    return undefined;
  }

  /** One log line per new problem, not one per query. */
  private report(problem: string): void {
    if (problem === this.lastProblem) return;
    this.lastProblem = problem;
    this.logger?.warn(`DNS: ${problem}: queries to the DNS address get no answer until it has one`);
  }
}

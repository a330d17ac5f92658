/**
 * What opening a TAP means, in plain data: the target namespace, the device name, offloads and the
 * slirp4netns `--configure` settings, checked and resolved into the native attach request.
 *
 * Pure (no I/O, no addon), so the defaults and the error messages are unit-testable. Throws one-line
 * Errors on bad input: this runs on command-line input, never on guest input.
 */
import { parseMac } from '../wire/bytes.js';
import { checkMtu, DEFAULT_CIDR, DEFAULT_MTU, inIpv4Prefix, parseIpv4, parseIpv4Cidr, slirpIpv4Addresses } from '../wire/ip-address.js';
import { UsernsMode, type NativeAttachRequest, type NativeConfigure } from '../native/native-addon.js';

/** Where the guest lives: a process (its /proc/PID/ns/net) or a netns file (`--netns-type=path`). */
export type TapTarget = { readonly pid: number } | { readonly path: string };

/** slirp4netns `--configure`: set up the guest side of the TAP from inside the namespace. */
export interface TapConfigureOptions {
  /** IP MTU given to the TAP; default: OpenTapOptions.mtu. */
  readonly mtu?: number;
  /** `--macaddress`; default: the kernel's random MAC. */
  readonly macAddress?: string;
  /** Default 10.0.2.0/24. */
  readonly cidr?: string;
  /** Default: network + 100. */
  readonly guestAddress?: string;
  /** Default: network + 2. */
  readonly gateway?: string;
}

export interface OpenTapOptions {
  readonly target: TapTarget;
  /** Join this user namespace before the network namespace (`--userns-path`). */
  readonly usernsPath?: string;
  /** Default "tap0". */
  readonly tapName?: string;
  /** Set up addresses, route, MTU and links; omit to attach to the device as it is (RootlessKit). */
  readonly configure?: TapConfigureOptions;
  /** IFF_VNET_HDR with checksum and TSO offloads (`--enable-offloads`). */
  readonly offloads?: boolean;
  /** The guest's IP MTU as the engine should assume it; default 1500. */
  readonly mtu?: number;
}

export const DEFAULT_TAP_NAME = 'tap0';
export const DEFAULT_TAP_CIDR = DEFAULT_CIDR;
export const DEFAULT_TAP_MTU = DEFAULT_MTU;
const IFNAMSIZ = 16;

function checkTapName(name: string): string {
  // The kernel takes at most IFNAMSIZ-1 bytes; '/' and whitespace are refused by dev_valid_name.
  if (name.length === 0 || Buffer.byteLength(name) >= IFNAMSIZ || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw new Error(`invalid interface name "${name}" (1-${IFNAMSIZ - 1} bytes, no '/', ':' or spaces)`);
  }
  return name;
}

function parseAddress(text: string, what: string): number {
  const address = parseIpv4(text);
  if (address === undefined) throw new Error(`invalid ${what} "${text}" (expected a dotted quad)`);
  return address;
}

function macBytes(text: string): Uint8Array {
  const mac = parseMac(text);
  if (mac === undefined) throw new Error(`invalid MAC address "${text}" (expected e.g. 52:54:00:12:34:56)`);
  const bytes = new Uint8Array(6);
  for (let i = 5, rest = mac; i >= 0; i--, rest = Math.floor(rest / 256)) bytes[i] = rest % 256;
  if (bytes[0] & 1) throw new Error(`invalid MAC address "${text}": a multicast address cannot be an interface's`);
  return bytes;
}

/** Network, mask, guest and gateway addresses for `--configure`, slirp4netns-style from a CIDR. */
export function resolveConfigure(options: TapConfigureOptions, linkMtu: number): NativeConfigure {
  const cidr = options.cidr ?? DEFAULT_TAP_CIDR;
  const prefix = parseIpv4Cidr(cidr);
  const netmask = prefix.netmask;
  const plan = slirpIpv4Addresses(prefix);
  const configure: NativeConfigure = {
    mtu: checkMtu(options.mtu ?? linkMtu),
    address: options.guestAddress !== undefined ? parseAddress(options.guestAddress, 'guest address') : plan.guest,
    netmask,
    gateway: options.gateway !== undefined ? parseAddress(options.gateway, 'gateway') : plan.gateway,
  };
  for (const [what, address] of [['guest address', configure.address], ['gateway', configure.gateway]] as const) {
    if (!inIpv4Prefix(prefix, address)) throw new Error(`${what} is outside ${cidr}`);
  }
  if (options.macAddress !== undefined) configure.mac = macBytes(options.macAddress);
  return configure;
}

/** The native attach request for options; throws one-line Errors. */
export function resolveAttachRequest(options: OpenTapOptions): NativeAttachRequest {
  const mtu = checkMtu(options.mtu ?? DEFAULT_TAP_MTU);
  const target = options.target;
  let netnsPath: string;
  let usernsMode = UsernsMode.None;
  let usernsPath: string | undefined;
  if ('pid' in target) {
    if (!Number.isInteger(target.pid) || target.pid <= 0) throw new Error(`invalid PID ${target.pid}`);
    netnsPath = `/proc/${target.pid}/ns/net`;
    // As slirp4netns: join the target's user namespace unless we already live in it.
    usernsMode = UsernsMode.IfDifferent;
    usernsPath = `/proc/${target.pid}/ns/user`;
  } else {
    if (target.path.length === 0) throw new Error('empty network namespace path');
    netnsPath = target.path;
  }
  if (options.usernsPath !== undefined) {
    usernsMode = UsernsMode.Always;
    usernsPath = options.usernsPath;
  }
  const request: NativeAttachRequest = {
    netnsPath,
    usernsMode,
    tapName: checkTapName(options.tapName ?? DEFAULT_TAP_NAME),
    vnetHdr: options.offloads ?? false,
  };
  if (usernsPath !== undefined) request.usernsPath = usernsPath;
  if (options.configure) request.configure = resolveConfigure(options.configure, mtu);
  return request;
}

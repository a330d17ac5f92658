/**
 * The slirp4netns 1.2 API: one JSON request in, one compact JSON answer out, byte for byte as
 * slirp4netns's api.c writes them (see CLIENTS.md). Knows no sockets and no packets: it calls a
 * HostfwdControl.
 *
 * Parsing follows parson (slirp4netns's JSON library): a UTF-8 BOM and leading whitespace are skipped,
 * and only the first JSON value counts (trailing bytes, like the `\n` podman and RootlessKit add, are
 * ignored). Numbers are truncated to integers as C's `(int)` cast does.
 *
 * Deliberate differences, each an answer where slirp4netns crashes or does something unsafe:
 * - missing or non-string `proto` → `bad arguments.proto` (slirp4netns segfaults);
 * - ports outside 1-65535 → `bad arguments.host_port` / `guest_port` (slirp4netns takes 70000);
 * - an IPv6 `host_addr` ("::", "::1", …) is accepted and listened on (slirp4netns refuses it);
 * - with IPv6 on, an IPv6 `guest_addr` (an address of the guest in fd00::/64) is accepted; an empty
 *   one still means the guest's IPv4 address (podman's form). The table judges the addresses (an
 *   IPv6 guest address with IPv6 off, or outside the prefix): its HostfwdArgumentError becomes
 *   `bad arguments.host_addr` / `guest_addr`, in slirp4netns's words.
 * Must never throw: every malformed request gets an error object.
 */
import { isIP } from 'node:net';
import { HostfwdArgumentError, type HostfwdControl, type HostfwdProto } from '../hostfwd/hostfwd-control.js';
import { debugFlowsResponse, debugPcapResponse, type DebugSource } from './debug-request.js';
import { getStatsResponse, type StatsSource } from './stats-request.js';

/** A request this long or longer is refused, as slirp4netns's 4096-byte buffer does. */
export const API_MAX_REQUEST = 4096;

export const API_ERRORS = {
  tooLarge: 'bad request: too large message',
  cannotParse: 'bad request: cannot parse JSON',
  notObject: 'bad request: json_object() failed',
  noExecute: 'bad request: no execute found',
  unknownExecute: 'bad request: unknown execute',
  badProto: 'bad request: add_hostfwd: bad arguments.proto',
  badHostAddr: 'bad request: add_hostfwd: bad arguments.host_addr',
  badHostPort: 'bad request: add_hostfwd: bad arguments.host_port',
  badGuestAddr: 'bad request: add_hostfwd: bad arguments.guest_addr',
  badGuestPort: 'bad request: add_hostfwd: bad arguments.guest_port',
  addFailed: 'bad request: add_hostfwd: slirp_add_hostfwd failed',
  badId: 'bad request: remove_hostfwd: bad arguments.id',
} as const;

export function errorResponse(desc: string): string {
  return JSON.stringify({ error: { desc } });
}

export interface ApiContext {
  readonly hostfwd: HostfwdControl;
  /** The address `guest_addr` defaults to (also when it is ""): the --configure address, 10.0.2.100. */
  readonly defaultGuestAddress: string;
  /** Told why an add failed (the answer itself only says `slirp_add_hostfwd failed`). */
  readonly onAddFailure?: (error: unknown) => void;
  /** Counters for `get_stats` (ours, beyond slirp4netns); absent: get_stats answers an error. */
  readonly stats?: StatsSource;
  /** Engine internals for `debug_flows` / `debug_pcap` (ours); absent: they answer an error. */
  readonly debug?: DebugSource;
}

/** Index just past the first JSON value in text starting at start, or -1 if it does not end. */
function endOfFirstValue(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return i + 1;
      }
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth <= 0) return i + 1;
    } else if (depth === 0 && /[\s,]/.test(c) && i > start) return i;
  }
  return depth === 0 && !inString ? text.length : -1;
}

/** parson's json_parse_string: first value only; undefined when it does not parse. */
export function parseFirstJsonValue(request: string): { value: unknown } | undefined {
  let text = request.startsWith('\uFEFF') ? request.slice(1) : request;
  // C strings end at the first NUL, as slirp4netns's buffer does.
  const nul = text.indexOf('\0');
  if (nul >= 0) text = text.slice(0, nul);
  const start = text.search(/\S/);
  if (start < 0) return undefined;
  try {
    return { value: JSON.parse(text) };
  } catch {
    const end = endOfFirstValue(text, start);
    if (end < 0) return undefined;
    try {
      return { value: JSON.parse(text.slice(start, end)) };
    } catch {
      return undefined;
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** parson's json_object_dotget_string: a string, else undefined. */
function argString(args: Record<string, unknown> | undefined, name: string): string | undefined {
  const v = args?.[name];
  return typeof v === 'string' ? v : undefined;
}

/** parson's json_object_dotget_number then C's (int): 0 when absent or not a number. */
function argInt(args: Record<string, unknown> | undefined, name: string): number {
  const v = args?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0;
}

function validPort(port: number): boolean {
  return port >= 1 && port <= 65535;
}

async function addHostfwd(args: Record<string, unknown> | undefined, context: ApiContext): Promise<string> {
  const protoText = argString(args, 'proto');
  if (protoText !== 'tcp' && protoText !== 'udp') return errorResponse(API_ERRORS.badProto);
  const proto: HostfwdProto = protoText;
  let hostAddr = argString(args, 'host_addr');
  if (hostAddr === undefined || hostAddr === '') hostAddr = '0.0.0.0';
  if (isIP(hostAddr) === 0) return errorResponse(API_ERRORS.badHostAddr);
  const hostPort = argInt(args, 'host_port');
  if (!validPort(hostPort)) return errorResponse(API_ERRORS.badHostPort);
  let guestAddr = argString(args, 'guest_addr');
  if (guestAddr === undefined || guestAddr === '') guestAddr = context.defaultGuestAddress;
  else if (isIP(guestAddr) === 0) return errorResponse(API_ERRORS.badGuestAddr);
  const guestPort = argInt(args, 'guest_port');
  if (!validPort(guestPort)) return errorResponse(API_ERRORS.badGuestPort);
  try {
    const id = await context.hostfwd.add({ proto, hostAddr, hostPort, guestAddr, guestPort });
    return `{"return":{"id":${id}}}`;
  } catch (error) {
    context.onAddFailure?.(error);
    if (error instanceof HostfwdArgumentError) return errorResponse(error.field === 'host_addr' ? API_ERRORS.badHostAddr : API_ERRORS.badGuestAddr);
    return errorResponse(API_ERRORS.addFailed);
  }
}

function listHostfwd(context: ApiContext): string {
  // Not wrapped in "return", unlike the man page says: this is what slirp4netns 1.2 writes.
  const entries = context.hostfwd.list().map((e) => ({
    id: e.id,
    proto: e.proto,
    host_addr: e.hostAddr,
    host_port: e.hostPort,
    guest_addr: e.guestAddr,
    guest_port: e.guestPort,
  }));
  return JSON.stringify({ entries });
}

async function removeHostfwd(args: Record<string, unknown> | undefined, context: ApiContext): Promise<string> {
  const id = argInt(args, 'id');
  if (id <= 0 || !(await context.hostfwd.remove(id))) return errorResponse(API_ERRORS.badId);
  return '{"return":{}}';
}

/** The whole answer for one request (the bytes read, at most API_MAX_REQUEST - 1 of them). */
export async function handleApiRequest(request: Uint8Array, context: ApiContext): Promise<string> {
  if (request.length >= API_MAX_REQUEST) return errorResponse(API_ERRORS.tooLarge);
  const parsed = parseFirstJsonValue(Buffer.from(request.buffer, request.byteOffset, request.length).toString('utf8'));
  if (parsed === undefined) return errorResponse(API_ERRORS.cannotParse);
  const message = parsed.value;
  if (!isObject(message)) return errorResponse(API_ERRORS.notObject);
  const execute = message.execute;
  if (typeof execute !== 'string') return errorResponse(API_ERRORS.noExecute);
  const args = isObject(message.arguments) ? message.arguments : undefined;
  switch (execute) {
    case 'add_hostfwd':
      return addHostfwd(args, context);
    case 'list_hostfwd':
      return listHostfwd(context);
    case 'remove_hostfwd':
      return removeHostfwd(args, context);
    case 'get_stats':
      return getStatsResponse(context.stats);
    case 'debug_flows':
      return debugFlowsResponse(context.debug);
    case 'debug_pcap':
      return debugPcapResponse(context.debug);
    default:
      return errorResponse(API_ERRORS.unknownExecute);
  }
}

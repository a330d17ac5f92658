/**
 * Command line of the minimal attach CLI: `tslirp [options] PID|PATH [TAPNAME]`, slirp4netns
 * spelling (`--mtu=N`, `--mtu N`, `-m N`, `-c`). Pure: no I/O, loads neither engine nor addon, so
 * `--help` stays fast. Throws one-line Errors for bad input.
 */

export interface AttachArgs {
  readonly help: boolean;
  readonly configure: boolean;
  readonly mtu: number;
  readonly macAddress: string | undefined;
  readonly offloads: boolean;
  readonly netnsType: 'pid' | 'path';
  readonly usernsPath: string | undefined;
  readonly target: string;
  readonly tapName: string;
}

export const ATTACH_USAGE = `Usage: tslirp [OPTION]... PID|PATH [TAPNAME]
User-mode networking for unprivileged network namespaces (slirp4netns compatible).

-c, --configure          bring up the interface, set its address, MTU and default route
-m, --mtu=MTU            MTU (default=1500, max=65521)
--macaddress=MAC         MAC address of the TAP (only with -c)
--enable-offloads        use IFF_VNET_HDR with checksum and TSO offloads
--netns-type=TYPE        type of the namespace argument: pid or path (default=pid)
--userns-path=PATH       join this user namespace before the network namespace
-h, --help               show this help and exit
`;

const DEFAULT_MTU = 1500;
const MAX_MTU = 65521;

function parseMtu(text: string): number {
  const mtu = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
  if (!(mtu >= 68 && mtu <= MAX_MTU)) throw new Error(`MTU must be an integer from 68 to ${MAX_MTU}, got "${text}"`);
  return mtu;
}

export function parseAttachArgs(argv: readonly string[]): AttachArgs {
  let help = false;
  let configure = false;
  let mtu = DEFAULT_MTU;
  let macAddress: string | undefined;
  let offloads = false;
  let netnsType: 'pid' | 'path' = 'pid';
  let usernsPath: string | undefined;
  const positional: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    // The value of an option: after '=' or the next argument.
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (name !== arg) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw new Error(`option ${name} needs a value`);
      return next;
    };
    switch (name) {
      case '-h':
      case '--help':
        help = true;
        break;
      case '-c':
      case '--configure':
        configure = true;
        break;
      case '-m':
      case '--mtu':
        mtu = parseMtu(value());
        break;
      case '--macaddress':
        macAddress = value();
        break;
      case '--enable-offloads':
        offloads = true;
        break;
      case '--netns-type': {
        const type = value();
        if (type !== 'pid' && type !== 'path') throw new Error(`--netns-type must be pid or path, got "${type}"`);
        netnsType = type;
        break;
      }
      case '--userns-path':
        usernsPath = value();
        break;
      case '--':
        positional.push(...argv.slice(i + 1));
        i = argv.length;
        break;
      default:
        if (/^-m\d+$/.test(arg)) mtu = parseMtu(arg.slice(2));
        else if (arg.startsWith('-') && arg !== '-') throw new Error(`unknown option ${arg}`);
        else positional.push(arg);
    }
  }
  const base = { help, configure, mtu, macAddress, offloads, netnsType, usernsPath };
  if (help) return { ...base, target: '', tapName: 'tap0' };
  if (positional.length < 1 || positional.length > 2) {
    throw new Error(`expected PID|PATH [TAPNAME], got ${positional.length} arguments (see --help)`);
  }
  const target = positional[0];
  if (netnsType === 'pid' && !/^[1-9]\d{0,9}$/.test(target)) throw new Error(`invalid PID "${target}"`);
  if (macAddress !== undefined && !configure) throw new Error('--macaddress needs --configure');
  return { ...base, target, tapName: positional[1] ?? 'tap0' };
}

/**
 * `tslirp run [OPTION]... [--] CMD [ARGS]...`: one command that gives CMD its own networked namespace.
 *
 * Order of work: private resolv.conf (nameserver 10.0.2.3, and fd00::3 with IPv6) in a temporary
 * folder → namespaces with CMD waiting (run-namespace.ts) → TAP attached and configured
 * (10.0.2.100/24, gateway 10.0.2.2, MTU; IPv6, on unless --disable-ipv6, by the guest's kernel from
 * our router advertisements)
 * → engine with its optional pcap tee (src/engine/engine.ts, the same assembly as main.ts) →
 * published ports → optional API socket → one progress line on stderr → CMD released.
 * SIGINT/SIGTERM/SIGHUP are forwarded to CMD (SIGINT/SIGHUP not when they came from our terminal,
 * which already sent them to CMD, our group-mate); when it exits,
 * everything is torn down (API socket, ports, engine, TAP, capture flushed, temporary folder) and
 * tslirp exits with CMD's status, 128+N if a signal N killed it.
 *
 * Logs stay JSON lines (pino's format) on stderr (level warn unless TSLIRP_LOG_LEVEL says otherwise, so CMD's own
 * output is not buried); the progress line is for a person and goes away with --quiet.
 * Must never: leave CMD or its namespaces behind on any error path, or run CMD before its network is up.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import type { ApiServer } from '../api/api-server.js';
import type { Link } from '../link/link.js';
import { formatIpv4 } from '../wire/ip-address.js';
import { tuneEventLoop } from './event-loop-tuning.js';
import { limitMallocArenas } from './malloc-arenas.js';
import { releaseMemory } from './release-memory.js';
import { formatPublish, parseRunArgs, RUN_USAGE, type RunArgs } from './run-args.js';
import type { Engine } from '../engine/engine.js';
import { LAUNCH_FAILED_STATUS, launchNamespace, type LaunchedNamespace } from './run-namespace.js';

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** 128+N for a signal name, as shells report it. */
export function signalStatus(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Whether we run in the foreground process group of a terminal (so CMD, which shares our group,
 * receives the terminal's SIGINT/SIGHUP itself). From /proc/self/stat: pgrp, tty_nr, tpgid.
 */
export function terminalSignalsOurGroup(stat: string = readFileSync('/proc/self/stat', 'utf8')): boolean {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  const ttyNr = Number(fields[4]);
  const tpgid = Number(fields[5]);
  return ttyNr !== 0 && tpgid === pgrp;
}

/** The IPv6 part of the network-up line (slirp4netns's IPv6 plan, see src/stack/config.ts). */
export const IPV6_UP_TEXT = 'IPv6 fd00::/64 by router advertisement, gateway fd00::2 dns fd00::3';

/** The one line printed when the network is up. */
export function networkUpLine(args: RunArgs, tapName: string, guest: string, gateway: string, dns: string): string {
  const ipv6 = args.ipv6 ? `; ${IPV6_UP_TEXT}` : '';
  const ports = args.publish.length > 0 ? `; published ${args.publish.map(formatPublish).join(', ')}` : '';
  const pcap = args.pcap !== undefined ? `; capturing to ${args.pcap}` : '';
  return `tslirp: network up: ${tapName} ${guest} gateway ${gateway} dns ${dns} mtu ${args.mtu}${ipv6}${ports}${pcap}\n`;
}

interface Session {
  namespace?: LaunchedNamespace;
  link?: Link;
  engine?: Engine;
  api?: ApiServer;
  tempDir?: string;
  /** CMD's network namespace (link text of /proc/PID/ns/net), to find what it left running. */
  netns?: string;
}

async function teardown(session: Session): Promise<void> {
  const steps: (() => Promise<void> | void)[] = [
    () => session.api?.close(),
    // Published ports, host sockets, the TAP, then the capture written out.
    () => session.engine?.close(),
    // Without an engine the link was never handed over: close it here (idempotent otherwise).
    () => session.link?.close(),
    () => {
      if (session.tempDir !== undefined) rmSync(session.tempDir, { recursive: true, force: true });
    },
  ];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      process.stderr.write(`tslirp: while tearing down: ${message(error)}\n`);
    }
  }
}

/** The PIDs of processes in the network namespace `netns` (a /proc/PID/ns/net link text). */
function processesIn(netns: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === netns) pids.push(Number(entry));
    } catch {
      // gone, or not ours to look at (then not in our namespace either)
    }
  }
  return pids;
}

/**
 * CMD is gone, but what it started in the background would keep its namespaces alive: end every
 * process still in CMD's network namespace (all descendants of CMD, started by us), by PID.
 */
async function endLeftovers(netns: string): Promise<number> {
  let ended = 0;
  for (let round = 0; round < 50; round++) {
    const pids = processesIn(netns);
    if (pids.length === 0) return ended;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        ended++;
      } catch {
        // exited meanwhile
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return ended;
}

/** Ends the launcher child when setup failed: first by EOF on its go pipe, then SIGKILL by PID. */
async function abandon(namespace: LaunchedNamespace): Promise<void> {
  const child = namespace.child;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  namespace.abort();
  const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
  await exited;
  clearTimeout(timer);
}

async function run(args: RunArgs): Promise<number> {
  const session: Session = {};
  // Signals that arrive before CMD runs end the setup; afterwards they go to CMD.
  let pendingSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    const child = session.namespace?.child;
    if (child && child.exitCode === null && child.signalCode === null && released) {
      // Ctrl-C / hang-up: the terminal signals its whole foreground group, CMD included; a second
      // copy from us would read as "pressed twice" (force quit) to many programs.
      if (signal !== 'SIGTERM' && terminalSignalsOurGroup()) return;
      child.kill(signal);
    } else pendingSignal ??= signal;
  };
  let released = false;
  for (const s of FORWARDED_SIGNALS) process.on(s, onSignal);
  try {
    const { JsonLogger, logLevelFrom } = await import('./json-logger.js');
    const logger = new JsonLogger({ level: logLevelFrom(process.env.TSLIRP_LOG_LEVEL, 'warn') });

    session.tempDir = mkdtempSync(join(tmpdir(), 'tslirp-run-'));
    const resolvConf = join(session.tempDir, 'resolv.conf');
    writeFileSync(resolvConf, args.ipv6 ? 'nameserver 10.0.2.3\nnameserver fd00::3\n' : 'nameserver 10.0.2.3\n', { mode: 0o644 });

    session.namespace = await launchNamespace({ command: args.command, resolvConf });
    session.netns = readlinkSync(`/proc/${session.namespace.pid}/ns/net`);
    // The bind mount holds the file now; the folder can go at once.
    rmSync(session.tempDir, { recursive: true, force: true });
    session.tempDir = undefined;
    if (pendingSignal) throw new Error(`stopped by ${pendingSignal} during setup`);

    const [{ openTap }, { createEngine }, { loadNativeAddon }] = await Promise.all([import('../link/tap-link.js'), import('../engine/engine.js'), import('../native/native-addon.js')]);
    limitMallocArenas(loadNativeAddon);
    const tap = openTap({
      target: { pid: session.namespace.pid },
      configure: { mtu: args.mtu },
      mtu: args.mtu,
      offloads: args.offloads,
      onError: (error) => logger.error({ err: error }, 'tap device failed'),
    });
    session.link = tap;
    const engine = await createEngine(tap, {
      config: { mtu: args.mtu, disableHostLoopback: args.disableHostLoopback, ipv6: args.ipv6 },
      logger,
      dnsUpstream: args.dnsUpstream,
      pcap: args.pcap === undefined ? undefined : { path: args.pcap, maxFileBytes: args.pcapMaxBytes },
      releaseMemory: () => releaseMemory(loadNativeAddon()),
      busyPoll: () => loadNativeAddon().busyPollStats(),
    });
    session.engine = engine;
    tuneEventLoop(loadNativeAddon(), args.busyPollMicroseconds, (message) => logger.warn(message));
    engine.start();

    const config = engine.stack.config;
    for (const p of args.publish) {
      try {
        await engine.hostfwd.add({ proto: p.proto, hostAddr: p.hostAddr, hostPort: p.hostPort, guestAddr: formatIpv4(config.ipv4.guest), guestPort: p.guestPort });
      } catch (error) {
        throw new Error(`cannot publish ${formatPublish(p)}: ${message(error)}`);
      }
    }
    if (args.apiSocket !== undefined) {
      const { ApiServer } = await import('../api/api-server.js');
      session.api = await ApiServer.listen({
        path: args.apiSocket,
        hostfwd: engine.hostfwd,
        onAddFailure: (err) => logger.warn({ err }, 'add_hostfwd failed'),
        defaultGuestAddress: formatIpv4(config.ipv4.guest),
        stats: engine.stats,
        debug: engine.debug,
      });
    }
    if (pendingSignal) throw new Error(`stopped by ${pendingSignal} during setup`);

    if (!args.quiet) {
      process.stderr.write(networkUpLine(args, tap.name, `${formatIpv4(config.ipv4.guest)}/${config.ipv4.prefixLength}`, formatIpv4(config.ipv4.gateway), formatIpv4(config.ipv4.dns)));
    }
    const child = session.namespace.child;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
      else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    released = true;
    session.namespace.go();
    const { code, signal } = await exit;
    const ended = await endLeftovers(session.netns);
    if (ended > 0) logger.warn({ processes: ended }, 'ended processes CMD left running in its namespace');
    return signal !== null ? signalStatus(signal) : (code ?? 1);
  } catch (error) {
    const text = message(error);
    // The one set-up step a user can fix by hand: distributions differ on /dev/net/tun's mode.
    const hint = /\/dev\/net\/tun.*(permission denied|EACCES)/i.test(text) ? ' (an unprivileged user needs /dev/net/tun mode 0666)' : '';
    process.stderr.write(`tslirp: ${text}${hint}\n`);
    if (session.namespace) await abandon(session.namespace);
    return LAUNCH_FAILED_STATUS;
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, onSignal);
    await teardown(session);
  }
}

/** `tslirp run ARGS`; resolves with the exit status for the process. */
export async function runMain(argv: readonly string[]): Promise<number> {
  let args: RunArgs;
  try {
    args = parseRunArgs(argv);
  } catch (error) {
    process.stderr.write(`tslirp: ${message(error)}\n`);
    return LAUNCH_FAILED_STATUS;
  }
  if (args.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  return run(args);
}

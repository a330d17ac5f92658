/**
 * The slirp4netns-compatible entry: `tslirp [OPTION]... PID|PATH [TAPNAME]` (bin/tslirp.js sends the
 * `run` and `stats` subcommands to subcommand-main.ts instead).
 *
 * Order of start-up, as slirp4netns 1.2: parse and check every option (a bad one ends the process
 * with one line and status 1 before any namespace is touched) → attach the TAP in the target
 * namespace → the engine (src/engine/engine.ts's createEngine, the assembly `tslirp run` and
 * embedders use too: transports, published-port table) → API socket listening → sandbox → the engine
 * starts reading → progress lines → the ready fd gets exactly "1" and is closed. Started by the
 * launcher (bin/tslirp, native/launcher.c), the TAP is attached already, and with --enable-sandbox
 * the namespaces and capabilities are set: this process takes what it was handed
 * (launcher-handoff.ts) instead of attaching. Then it runs until
 * SIGTERM/SIGINT, the exit fd reporting hang-up (or anything readable, as slirp4netns polls it), or a
 * device error; an orderly stop closes the listeners, removes the API socket file, closes the TAP
 * and exits 0.
 *
 * `--help` and `--version` must stay fast (podman runs `--help` once and RootlessKit twice before every
 * start): only options.ts is imported statically; the engine, the logger and the native addon are loaded
 * with dynamic import() after parsing.
 */
import { closeSync, fstatSync, readFileSync, writeSync } from 'node:fs';
import {
  describeFaultSpec,
  faultLinkOptions,
  faultSpecFromEnvironment,
  FaultSpecError,
  FAULTS_ENVIRONMENT_VARIABLE,
  withThrowingHostWrites,
  type FaultSpec,
} from './fault-injection.js';
import { pcapRingSpecFromEnvironment, PcapRingSpecError, PCAP_RING_ENVIRONMENT_VARIABLE, type PcapRingSpec } from './pcap-ring-option.js';
import { checkHostEnvironment, CliError, HELP_TEXT, parseCommandLine, systemHostProbe, versionText, type CliOptions, type HostEnvironment } from './options.js';
import { attachRequestKey, HandoffError, takeHandoff, tapOptionsFromCli, type LauncherHandoff } from './launcher-handoff.js';
import { tuneEventLoop } from './event-loop-tuning.js';
import { limitMallocArenas } from './malloc-arenas.js';
import { releaseMemory } from './release-memory.js';
// Types only (erased): the modules themselves are loaded after parsing.
import type { Engine } from '../engine/engine.js';
import type { Link } from '../link/link.js';
import type { TapLink } from '../link/tap-link.js';

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fail(message: string): number {
  process.stderr.write(`tslirp: ${message}\n`);
  return 1;
}

function packageVersion(): string {
  // Two levels below the package root both as src/cli/main.ts and as dist/cli/main.js.
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Writes "1" to the ready fd and closes it (slirp4netns's contract; EOF without data means failure). */
function signalReady(fd: number, warn: (message: string) => void): void {
  try {
    writeSync(fd, '1');
  } catch (error) {
    warn(`cannot write to ready-fd ${fd}: ${describe(error)}`);
  }
  try {
    closeSync(fd);
  } catch {
    // already closed by someone else: nothing to release
  }
}

/**
 * Calls onEvent once when fd becomes readable or hangs up (slirp4netns polls the exit fd for any
 * event). Pipes and sockets are watched by libuv without a thread; anything else by a read stream.
 */
async function watchExitFd(fd: number, onEvent: () => void): Promise<() => void> {
  let fired = false;
  const fire = (): void => {
    if (!fired) {
      fired = true;
      onEvent();
    }
  };
  const stat = fstatSync(fd);
  if (stat.isFIFO() || stat.isSocket()) {
    const { Socket } = await import('node:net');
    const socket = new Socket({ fd, readable: true, writable: false, allowHalfOpen: true });
    socket.on('data', fire);
    socket.on('end', fire);
    socket.on('close', fire);
    socket.on('error', fire);
    return () => {
      fired = true;
      socket.destroy();
    };
  }
  const { createReadStream } = await import('node:fs');
  const stream = createReadStream('', { fd, autoClose: false });
  stream.on('data', fire);
  stream.on('end', fire);
  stream.on('error', fire);
  return () => {
    fired = true;
    stream.destroy();
  };
}

/** The progress lines slirp4netns prints once the network is set up (clients and people read them). */
function startupLines(options: CliOptions, host: HostEnvironment, engine: Engine, tap: TapLink, formatIpv4: (address: number) => string): string[] {
  const config = engine.stack.config;
  const offloads = tap.offloads.tso ? `, offloads: csum${tap.rxTso ? '+tso' : ''}` : '';
  const lines = [
    `starting slirp, MTU=${config.mtu}${offloads}`,
    `* MTU:             ${config.mtu}`,
    `* Network:         ${formatIpv4(config.ipv4.network)}`,
    `* Netmask:         ${formatIpv4(config.ipv4.netmask)}`,
    `* Gateway:         ${formatIpv4(config.ipv4.gateway)}`,
    `* DNS:             ${formatIpv4(config.ipv4.dns)}`,
    `* DHCP begin:      ${formatIpv4(config.ipv4.dhcpStart)}`,
    `* DHCP end:        ${formatIpv4(config.ipv4.dhcpStart + 15)}`,
    `* Recommended IP:  ${formatIpv4(config.ipv4.guest)}`,
  ];
  if (options.apiSocket !== undefined) lines.push(`* API Socket:      ${options.apiSocket}`);
  if (host.outboundAddr !== undefined) lines.push(`* Outbound IPv4:    ${host.outboundAddr}`);
  if (host.outboundAddr6 !== undefined) lines.push(`* Outbound IPv6:    ${host.outboundAddr6}`);
  if (options.macAddress !== undefined) lines.push(`* MAC address:     ${options.macAddress}`);
  lines.push(`* Engines:         ${engine.parts.join(', ')}`);
  if (!options.disableHostLoopback) {
    lines.push(
      `WARNING: 127.0.0.1:* on the host is accessible as ${formatIpv4(config.ipv4.gateway)} (set --disable-host-loopback to prohibit connecting to 127.0.0.1:*)`,
    );
  }
  return lines;
}

/** Milliseconds since the launcher started (the start-up stages logged at debug level). */
function sinceLaunch(handoff: LauncherHandoff): number {
  return Number(process.hrtime.bigint() - handoff.startedNs) / 1e6;
}

async function run(
  options: CliOptions,
  host: HostEnvironment,
  warnings: readonly string[],
  faults: FaultSpec | undefined,
  ring: PcapRingSpec | undefined,
  handoff: LauncherHandoff | undefined,
): Promise<number> {
  const nodeStartedMs = handoff && sinceLaunch(handoff);
  // A client that stops reading our output (a closed log pipe) must not take the network down.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  for (const warning of warnings) process.stderr.write(`WARNING: ${warning}\n`);

  // Resolved once, by the first of: a signal (0), the exit fd (0), a device error (1).
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  // Registered before attaching: a stop requested while starting still ends in an orderly exit.
  const onSignal = (): void => finish(0);
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  const [{ openTap, adoptTap }, { resolveAttachRequest }, { createEngine }, { JsonLogger, logLevelFrom }, { ApiServer }, { applySandbox, releaseLauncherSandbox }, { formatIpv4 }, { loadNativeAddon }] =
    await Promise.all([
      import('../link/tap-link.js'),
      import('../link/tap-options.js'),
      import('../engine/engine.js'),
      import('./json-logger.js'),
      import('../api/api-server.js'),
      import('./sandbox.js'),
      import('../wire/ip-address.js'),
      import('../native/native-addon.js'),
    ]);
  limitMallocArenas(loadNativeAddon);
  const logger = new JsonLogger({ name: 'tslirp', level: options.logLevel ?? logLevelFrom(process.env.TSLIRP_LOG_LEVEL, 'info') });
  const modulesLoadedMs = handoff && sinceLaunch(handoff);

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        logger.warn({ err }, 'error while stopping');
      }
    }
  };
  try {
    let deviceFailed = false;
    const tapOptions = {
      ...tapOptionsFromCli(options),
      onError: (error: Error) => {
        if (deviceFailed) return;
        deviceFailed = true;
        logger.error({ err: error }, 'TAP device failed');
        finish(1);
      },
    };
    let tap: TapLink;
    if (handoff === undefined) {
      tap = openTap(tapOptions);
    } else if (handoff.request === attachRequestKey(resolveAttachRequest(tapOptions))) {
      tap = adoptTap(handoff.tap.fd, handoff.tap, tapOptions);
    } else {
      // The launcher read the command line otherwise than options.ts (a bug): ours is the authority.
      logger.warn({ launcher: handoff.request, cli: attachRequestKey(resolveAttachRequest(tapOptions)) }, 'the launcher attached another TAP: attaching again');
      closeSync(handoff.tap.fd);
      tap = openTap(tapOptions);
    }
    process.stderr.write(`attached to ${tap.name} in ${options.netnsType === 'pid' ? `PID ${options.target}` : options.target}\n`);
    let link: Link = tap;
    let releaseHeldFrames: (() => void) | undefined;
    if (faults !== undefined) {
      // Innermost, so a --pcap capture shows what the engine received and sent, faults included.
      const { FaultLink } = await import('../link/fault-link.js');
      const faulty = new FaultLink(tap, faultLinkOptions(faults));
      process.stderr.write(`WARNING: ${FAULTS_ENVIRONMENT_VARIABLE}: injecting faults (for tests only): ${describeFaultSpec(faults)}\n`);
      // At exit, so a test can check that faults were really injected.
      cleanups.push(() => {
        const counters = { receive: faulty.receiveCounters, transmit: faulty.transmitCounters };
        process.stderr.write(`fault injection counters: ${JSON.stringify(counters)}\n`);
      });
      if (faults.holdMs > 0) releaseHeldFrames = () => faulty.releaseHeld();
      link = faulty;
    }
    let dumpPcapRing: (() => Promise<import('../api/debug-request.js').PcapRingDump>) | undefined;
    if (ring !== undefined) {
      // Beside FaultLink's outside, like --pcap: the frames the engine received and sent.
      const { PcapRingLink } = await import('../link/pcap-ring-link.js');
      const { writeFile } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const recorder = new PcapRingLink(link, { maxBytes: ring.maxBytes, maxSeconds: ring.maxSeconds, snaplen: ring.snaplen });
      let dumps = 0;
      dumpPcapRing = async () => {
        const snapshot = recorder.snapshot();
        const path = join(ring.dir, `tslirp-ring-${process.pid}-${++dumps}.pcap`);
        await writeFile(path, snapshot.file, { mode: 0o600, flag: 'wx' });
        return { path, records: snapshot.records, seconds: snapshot.seconds, bytes: snapshot.file.length };
      };
      process.stderr.write(`WARNING: ${PCAP_RING_ENVIRONMENT_VARIABLE}: keeping the last ${ring.maxBytes >> 20} MiB / ${ring.maxSeconds} s of frames in memory (debug_pcap writes them to ${ring.dir})\n`);
      link = recorder;
    }
    // Closes the link itself if it fails.
    const engine = await createEngine(link, {
        config: { cidr: options.cidr, mtu: options.mtu, ipv6: options.enableIpv6, disableHostLoopback: options.disableHostLoopback, disableDns: options.disableDns },
        logger,
        outboundAddr: host.outboundAddr,
        outboundAddr6: host.outboundAddr6,
        dnsUpstream: options.dnsUpstream,
      pcap: options.pcap === undefined ? undefined : { path: options.pcap },
      wrapTcpPort: faults && faults.hostWriteThrowPort > 0 ? (port) => withThrowingHostWrites(port, faults.hostWriteThrowPort) : undefined,
      releaseMemory: () => releaseMemory(loadNativeAddon()),
      busyPoll: () => loadNativeAddon().busyPollStats(),
    });
    // Published ports, host sockets, then the link: reader thread stopped, TAP fd closed, capture flushed.
    cleanups.push(() => engine.close());
    if (releaseHeldFrames !== undefined && faults !== undefined) {
      // A reordered frame waits at most holdMs (fault-injection.ts says why). Stopped before the
      // engine closes the link (cleanups run in reverse).
      const timer = setInterval(releaseHeldFrames, faults.holdMs);
      cleanups.push(() => clearInterval(timer));
    }

    if (options.apiSocket !== undefined) {
      const api = await ApiServer.listen({
        path: options.apiSocket,
        fd: handoff?.apiFd,
        hostfwd: engine.hostfwd,
        defaultGuestAddress: formatIpv4(engine.stack.config.ipv4.guest),
        onAddFailure: (err) => logger.warn({ err }, 'add_hostfwd failed'),
        onRequest: (request, response) => logger.info({ request: request.trim(), response }, 'api request'),
        stats: engine.stats,
        debug: { flows: engine.debug.flows, dumpPcapRing },
      });
      cleanups.push(() => api.close());
    }

    // Before the sandbox (see tuneEventLoop).
    tuneEventLoop(loadNativeAddon(), options.busyPollMicroseconds, (message) => logger.warn(message));

    // After attaching (which needs the privileges) and binding the API socket (whose path the
    // sandbox's root may not show), before any thread of ours reads the TAP; nothing is imported after.
    const launcherSandbox = options.enableSandbox ? handoff?.sandbox : undefined;
    if (launcherSandbox !== undefined) {
      // The last cleanup, after the API server closed (it cannot unlink what the root does not show).
      const removeApiSocket = options.apiSocket !== undefined;
      cleanups.unshift(() => releaseLauncherSandbox(launcherSandbox, removeApiSocket));
    }
    if (options.enableSandbox || options.enableSeccomp) {
      for (const line of applySandbox({ sandbox: options.enableSandbox, seccomp: options.enableSeccomp, launcher: launcherSandbox })) {
        process.stderr.write(`${line}\n`);
      }
    }

    engine.start();
    process.stdout.write(`${startupLines(options, host, engine, tap, formatIpv4).join('\n')}\n`);

    if (options.exitFd !== undefined) {
      const stopWatching = await watchExitFd(options.exitFd, () => {
        logger.info('exit-fd event: exiting');
        finish(0);
      });
      cleanups.push(stopWatching);
    }
    if (options.readyFd !== undefined) signalReady(options.readyFd, (message) => logger.warn(message));
    logger.info({ tap: tap.name, mtu: engine.stack.config.mtu, api: options.apiSocket }, 'ready');
    if (handoff !== undefined) {
      const at = (ms: number | undefined): number => Math.round((ms ?? 0) * 10) / 10;
      const attachedMs = Number(handoff.attachedNs - handoff.startedNs) / 1e6;
      logger.debug(
        { attachedMs: at(attachedMs), nodeStartedMs: at(nodeStartedMs), modulesLoadedMs: at(modulesLoadedMs), readyMs: at(sinceLaunch(handoff)) },
        'start-up (ms since the launcher started)',
      );
    }

    const code = await finished;
    await cleanup();
    return code;
  } catch (error) {
    await cleanup();
    return fail(describe(error));
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let command;
  let host: HostEnvironment;
  let faults: FaultSpec | undefined;
  let ring: PcapRingSpec | undefined;
  let handoff: LauncherHandoff | undefined;
  try {
    handoff = takeHandoff(process.env);
    command = parseCommandLine(argv);
    if (command.kind === 'help') {
      process.stdout.write(HELP_TEXT);
      return 0;
    }
    if (command.kind === 'version') {
      process.stdout.write(versionText(packageVersion()));
      return 0;
    }
    faults = faultSpecFromEnvironment(process.env, command.options);
    ring = pcapRingSpecFromEnvironment(process.env);
    host = checkHostEnvironment(command.options, systemHostProbe());
  } catch (error) {
    if (error instanceof CliError || error instanceof FaultSpecError || error instanceof PcapRingSpecError || error instanceof HandoffError) {
      return fail(error.message);
    }
    throw error;
  }
  return run(command.options, host, command.warnings, faults, ring, handoff);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(fail(describe(error))),
);

/**
 * A guest namespace with a slirp implementation attached (`-c --mtu 65520 --api-socket`), for the
 * published-port e2e tests: either the real slirp4netns (the reference: it proves the test itself
 * right) or tslirp. Also a client namespace joined to ours by a veth the test creates
 * (198.18.0.1/30 here, 198.18.0.2 there). Traffic stays on loopback and on these veths.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest } from './api-client.js';
import { createNamespace, OutputLog, ProcessTracker, waitFor, type TestNamespace } from './netns.js';
import { startTslirp } from './tslirp-process.js';

export type Implementation = 'slirp4netns' | 'tslirp';
export const SLIRP4NETNS = '/usr/bin/slirp4netns';

export interface PublishedGuest {
  readonly ns: TestNamespace;
  readonly apiSocket: string;
  readonly dir: string;
  /** add_hostfwd; returns the raw answer. */
  publish(proto: 'tcp' | 'udp', hostAddr: string, hostPort: number, guestPort: number): Promise<string>;
  /** Starts a long-running command inside the guest namespace (ended by the tracker). */
  spawnInGuest(command: string, args: readonly string[]): void;
  readonly log: OutputLog;
  /** Resolves once a server in the guest listens on port (TCP) or is bound to it (UDP). */
  waitListening(proto: 'tcp' | 'udp', port: number): Promise<void>;
}

export async function startPublishedGuest(impl: Implementation, tracker: ProcessTracker, cleanups: (() => void | Promise<void>)[]): Promise<PublishedGuest> {
  const ns = await createNamespace(tracker);
  const dir = mkdtempSync(join(tmpdir(), `tslirp-pub-${impl}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const apiSocket = join(dir, 'api.sock');
  const args = ['-c', '--mtu', '65520', '--api-socket', apiSocket, String(ns.pid), 'tap0'];
  let log: OutputLog;
  if (impl === 'slirp4netns') {
    const child = tracker.spawn(SLIRP4NETNS, args);
    log = new OutputLog(child);
    let serving = false;
    await waitFor(
      'slirp4netns API',
      () => {
        if (child.exitCode !== null) throw new Error(`slirp4netns exited: ${log.text}`);
        if (existsSync(apiSocket)) apiRequest(apiSocket, '{"execute":"list_hostfwd"}').then((a) => (serving ||= a.text.startsWith('{')), () => undefined);
        return serving;
      },
      10_000,
      50,
    );
  } else {
    const tslirp = startTslirp(['-r', '3', ...args]);
    log = tslirp.log;
    const ready = await tslirp.ready;
    if (ready !== '1') throw new Error(`tslirp did not become ready: ${log.text}`);
  }
  return {
    ns,
    apiSocket,
    dir,
    log,
    publish: async (proto, hostAddr, hostPort, guestPort) =>
      (await apiRequest(apiSocket, JSON.stringify({ execute: 'add_hostfwd', arguments: { proto, host_addr: hostAddr, host_port: hostPort, guest_addr: '10.0.2.100', guest_port: guestPort } }))).text,
    spawnInGuest: (command, args) => {
      tracker.spawn('nsenter', ['-t', String(ns.pid), '-n', command, ...args]);
    },
    waitListening: async (proto, port) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const out = await ns.exec('ss', [proto === 'tcp' ? '-ltnH' : '-lunH', `sport = :${port}`]).catch(() => '');
        if (out.trim() !== '') return;
        if (Date.now() > deadline) throw new Error(`nothing listens on ${proto} port ${port} in the guest`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** A client namespace with 198.18.0.2/30 on a veth whose host end has 198.18.0.1/30. */
export async function createVethClient(tracker: ProcessTracker, cleanups: (() => void | Promise<void>)[]): Promise<TestNamespace> {
  const client = await createNamespace(tracker);
  const suffix = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const hostEnd = `tsh${suffix}`;
  const clientEnd = `tsc${suffix}`;
  execFileSync('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', clientEnd]);
  cleanups.push(() => {
    try {
      execFileSync('ip', ['link', 'del', hostEnd], { stdio: 'ignore' });
    } catch {
      // gone with the client namespace already
    }
  });
  execFileSync('ip', ['link', 'set', clientEnd, 'netns', String(client.pid)]);
  execFileSync('ip', ['addr', 'add', '198.18.0.1/30', 'dev', hostEnd]);
  execFileSync('ip', ['link', 'set', hostEnd, 'up']);
  await client.exec('ip', ['link', 'set', 'lo', 'up']);
  await client.exec('ip', ['addr', 'add', '198.18.0.2/30', 'dev', clientEnd]);
  await client.exec('ip', ['link', 'set', clientEnd, 'up']);
  await waitFor('the veth to come up', () => {
    try {
      execFileSync('ping', ['-c', '1', '-W', '1', '198.18.0.2'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }, 10_000, 100);
  return client;
}

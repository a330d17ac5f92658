/**
 * Where the transport engines plug into the process: given the running Stack and the host-side
 * settings, install TCP and UDP (and their services) and hand back the GuestConnector that published
 * ports use, plus the counters `get_stats` reports.
 *
 * The TCP engine (src/stack/tcp/) and UDP engine (src/stack/udp/) are written in parallel with this
 * file; until one is present its half of the connector refuses politely (a published TCP port resets
 * the client, a UDP datagram is dropped), logged once, so the rest of the process (TAP, ARP, ping,
 * API socket, listeners) still runs. Replace the marked lines when an engine lands.
 */
import type { GuestConnector, GuestTcpOpen, UdpService } from '../hostfwd/guest-connector.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import type { Logger } from '../stack/logger.js';
import type { Stack } from '../stack/stack.js';

export interface EngineSettings {
  /**
   * --outbound-addr / --outbound-addr6, resolved to numeric addresses: the host ports bind their
   * sockets with outboundLocalAddress({ ipv4: outboundAddr, ipv6: outboundAddr6 }, destination)
   * from src/host/outbound-bind.ts.
   */
  readonly outboundAddr: string | undefined;
  readonly outboundAddr6: string | undefined;
  /** --dns-upstream; undefined: the first nameserver of /etc/resolv.conf. */
  readonly dnsUpstream: HostEndpoint | undefined;
  readonly logger: Logger;
}

export interface InstalledEngines {
  readonly connector: GuestConnector;
  readonly tcpFlows?: () => number;
  readonly udpBindings?: () => number;
  /** Names of the parts that are running, for the start-up lines. */
  readonly parts: readonly string[];
}

/** A connector for when an engine is missing: refuses, and says so once. */
export function refusingConnector(logger: Logger): GuestConnector {
  let warnedTcp = false;
  let warnedUdp = false;
  const services: UdpService[] = [];
  return {
    tcp: {
      openToGuest(open: GuestTcpOpen): void {
        if (!warnedTcp) logger.warn('published TCP port used, but no TCP engine is installed: connection reset');
        warnedTcp = true;
        open.socket.destroy();
      },
    },
    udp: {
      sendToGuest(): void {
        if (!warnedUdp) logger.warn('published UDP port used, but no UDP engine is installed: datagram dropped');
        warnedUdp = true;
      },
      addUdpService(service: UdpService): () => void {
        services.push(service);
        return () => services.splice(services.indexOf(service), 1);
      },
    },
  };
}

export async function installEngines(stack: Stack, settings: EngineSettings): Promise<InstalledEngines> {
  const [
    { installTcp },
    { NodeTcpPort, adoptSocket },
    { HostAddressMap },
    { createDnsUpstream },
    { ResolvConfReader },
    { installUdp },
    { NodeUdpPort },
    { installDhcp },
    { installIcmpForward },
    { NodeIcmpPort },
  ] = await Promise.all([
    import('../stack/tcp/tcp-engine.js'),
    import('../host/node-tcp-port.js'),
    import('../stack/host-address-map.js'),
    import('../stack/services/dns-upstream.js'),
    import('../host/resolv-conf.js'),
    import('../stack/udp/udp-engine.js'),
    import('../host/node-udp-port.js'),
    import('../stack/services/dhcp-server.js'),
    import('../stack/icmp-forward.js'),
    import('../host/node-icmp-port.js'),
  ]);
  const bind = { ipv4: settings.outboundAddr, ipv6: settings.outboundAddr6 };
  // 10.0.2.3:53 (UDP and TCP): --dns-upstream, else the first nameserver of /etc/resolv.conf, re-read
  // when it changes; nothing with --disable-dns. Read once now so a problem is logged at start-up.
  const resolvConf = settings.dnsUpstream || stack.config.disableDns ? undefined : new ResolvConfReader({ logger: settings.logger });
  resolvConf?.current();
  const dnsUpstream = createDnsUpstream({
    config: stack.config,
    upstreams: settings.dnsUpstream ? [settings.dnsUpstream] : [],
    fallback: resolvConf && (() => resolvConf.current()),
  });
  const addressMap = new HostAddressMap(stack.config, dnsUpstream);
  const tcp = installTcp(stack, { hostPort: new NodeTcpPort(bind), addressMap });
  // UDP: bindings to host dgram sockets (10.0.2.3:53 relayed to the upstream through the address map),
  // with the DHCP server as its first service.
  const udp = installUdp(stack, { hostPort: new NodeUdpPort(bind), addressMap });
  installDhcp(stack, udp);
  // ICMP echo to other hosts through unprivileged ping sockets (our own addresses: the Stack answers).
  installIcmpForward(stack, { hostPort: new NodeIcmpPort(), addressMap });
  const connector: GuestConnector = {
    tcp: {
      openToGuest(open: GuestTcpOpen): void {
        const tuple = {
          guestAddress: open.destination,
          guestPort: open.destinationPort,
          remoteAddress: open.source,
          remotePort: open.sourcePort,
        };
        if (!tcp.openToGuest(tuple, (events) => adoptSocket(open.socket, events))) open.socket.destroy();
      },
    },
    udp,
  };
  return { connector, tcpFlows: () => tcp.size, udpBindings: () => udp.bindingCount, parts: ['tcp', 'udp', 'dhcp', 'dns', 'icmp'] };
}

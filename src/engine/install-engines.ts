/**
 * Where the transport engines plug into the process: given the running Stack and the host-side
 * settings, install TCP, UDP (with the DHCP server and the DNS relay) and ICMP echo forwarding on
 * their host ports (the addon's sockets, Node's where it cannot be loaded), and hand back the
 * GuestConnector that published ports use, plus the counters `get_stats` reports. The only file
 * that pairs engine parts with host sockets; engine.ts (createEngine) builds the whole engine
 * around it.
 */
import { endTcpClient, type GuestConnector, type GuestTcpOpen } from '../hostfwd/guest-connector.js';
import type { HostEndpoint } from '../stack/host-address-map.js';
import type { Logger } from '../stack/logger.js';
import type { Stack } from '../stack/stack.js';
import type { FlowDebug } from '../stack/tcp/flow-debug.js';
import type { HostTcpPort } from '../stack/tcp/host-tcp-port.js';

export interface EngineSettings {
  /**
   * --outbound-addr / --outbound-addr6, resolved to numeric addresses: the host ports bind their
   * sockets with outboundLocalAddress({ ipv4: outboundAddr, ipv6: outboundAddr6 }, destination)
   * from src/host/outbound-bind.ts.
   */
  readonly outboundAddr?: string;
  readonly outboundAddr6?: string;
  /** --dns-upstream; undefined: the first nameserver of /etc/resolv.conf. */
  readonly dnsUpstream?: HostEndpoint;
  readonly logger: Logger;
  /** Tests only (TSLIRP_INJECT_FAULTS): wraps the host TCP port, e.g. to make one port's writes throw. */
  readonly wrapTcpPort?: (port: HostTcpPort) => HostTcpPort;
}

export interface InstalledEngines {
  readonly connector: GuestConnector;
  readonly tcpFlows: () => number;
  /** Every TCP flow's state, for the debug_flows API request. */
  readonly tcpDebug: () => FlowDebug[];
  readonly udpBindings: () => number;
  /** Names of the parts that are running, for the start-up lines. */
  readonly parts: readonly string[];
}

// Imported when the network starts, not when the module loads: --help and option errors stay fast.
export async function installEngines(stack: Stack, settings: EngineSettings): Promise<InstalledEngines> {
  const [
    { installTcp },
    { NodeTcpPort, adoptSocket },
    { NativeTcpPort, adoptSocketNatively, adoptDescriptorNatively },
    { acceptClientsNatively },
    { HostAddressMap },
    { createDnsUpstream },
    { ResolvConfReader },
    { installUdp },
    { NativeUdpPort },
    { installDhcp },
    { installIcmpForward },
    { NodeIcmpPort },
  ] = await Promise.all([
    import('../stack/tcp/tcp-engine.js'),
    import('../host/node-tcp-port.js'),
    import('../host/native-tcp-port.js'),
    import('../host/native-tcp-listener.js'),
    import('../stack/host-address-map.js'),
    import('../stack/services/dns-upstream.js'),
    import('../host/resolv-conf.js'),
    import('../stack/udp/udp-engine.js'),
    import('../host/native-udp-port.js'),
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
  const addressMap = new HostAddressMap(stack.config, dnsUpstream, stack.addresses);
  // TCP flows (the guest's and published ports' clients) on the addon's sockets (a fraction of
  // net.Socket's CPU per connection); Node's sockets where the addon cannot be loaded.
  const native = NativeTcpPort.available();
  const tcpPort = native ? new NativeTcpPort(bind) : new NodeTcpPort(bind);
  const adopt = native ? adoptSocketNatively : adoptSocket;
  const tcp = installTcp(stack, { hostPort: settings.wrapTcpPort ? settings.wrapTcpPort(tcpPort) : tcpPort, addressMap });
  // UDP: bindings to host sockets (10.0.2.3:53 relayed to the upstream through the address map),
  // with the DHCP server as its first service: the addon's sockets (one unconnected socket per
  // binding, no dgram objects around it), Node's dgram where the addon cannot be loaded.
  const udpPort = NativeUdpPort.available() ? new NativeUdpPort(bind) : new (await import('../host/node-udp-port.js')).NodeUdpPort(bind);
  const udp = installUdp(stack, { hostPort: udpPort, addressMap });
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
        const client = open.client;
        const opened =
          typeof client === 'number'
            ? tcp.openToGuest(tuple, (events) => adoptDescriptorNatively(client, events))
            : tcp.openToGuest(tuple, (events) => adopt(client, events));
        if (!opened) endTcpClient(client);
      },
    },
    // Published ports' clients accepted by the addon (a descriptor each, no net.Socket), where it loads.
    acceptClients: native ? acceptClientsNatively : undefined,
    udp,
    addresses: stack.addresses,
    ipv6Gateway: stack.ipv6Gateway,
  };
  return { connector, tcpFlows: () => tcp.size, tcpDebug: () => tcp.debugFlows(), udpBindings: () => udp.bindingCount, parts: ['tcp', 'udp', 'dhcp', 'dns', 'icmp'] };
}

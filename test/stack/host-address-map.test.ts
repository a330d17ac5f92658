import { describe, expect, it } from 'vitest';
import { resolveNetworkConfig } from '../../src/stack/config.js';
import { guestVisibleAddress, HostAddressMap } from '../../src/stack/host-address-map.js';
import { parseIpv4 } from '../../src/wire/ip-address.js';

const config = resolveNetworkConfig();
const ip = (text: string): number => parseIpv4(text)!;

describe('guestVisibleAddress (the one host peer → guest rule)', () => {
  it('keeps real IPv4 peers (mapped too) and shows the host itself and virtual-network addresses as the gateway', () => {
    expect(guestVisibleAddress(config, '198.18.0.2')).toBe(ip('198.18.0.2'));
    expect(guestVisibleAddress(config, '::ffff:198.18.0.2')).toBe(ip('198.18.0.2'));
    for (const host of ['127.0.0.1', '127.3.4.5', '0.0.0.0', '::ffff:127.0.0.1', '10.0.2.77', '10.0.2.100']) {
      expect(guestVisibleAddress(config, host)).toBe(config.ipv4.gateway);
    }
  });

  it('has no IPv4 answer for an IPv6 peer', () => {
    expect(guestVisibleAddress(config, '::1')).toBeUndefined();
    expect(guestVisibleAddress(config, '2001:db8::1')).toBeUndefined();
  });

  it('is what HostAddressMap.toGuest answers', () => {
    const map = new HostAddressMap(config);
    for (const host of ['198.18.0.2', '127.0.0.1', '10.0.2.77', '::1']) expect(map.toGuest(host)).toBe(guestVisibleAddress(config, host));
  });
});

describe('HostAddressMap.toHost', () => {
  it('maps the gateway to loopback, refuses the virtual network and multicast, keeps the rest', () => {
    const map = new HostAddressMap(config, () => ({ address: '127.0.0.53', port: 53 }));
    expect(map.toHost(config.ipv4.gateway, 80)).toEqual({ address: '127.0.0.1', port: 80 });
    expect(map.toHost(config.ipv4.dns, 53)).toEqual({ address: '127.0.0.53', port: 53 });
    expect(map.toHost(config.ipv4.dns, 80)).toBeUndefined();
    expect(map.toHost(ip('10.0.2.77'), 80)).toBeUndefined();
    expect(map.toHost(ip('224.0.0.1'), 80)).toBeUndefined();
    expect(map.toHost(ip('198.18.0.2'), 80)).toEqual({ address: '198.18.0.2', port: 80 });
  });

  it('blocks every loopback route with --disable-host-loopback but the resolver behind 10.0.2.3:53', () => {
    const map = new HostAddressMap(resolveNetworkConfig({ disableHostLoopback: true }), () => ({ address: '127.0.0.53', port: 53 }));
    expect(map.toHost(config.ipv4.gateway, 80)).toBeUndefined();
    expect(map.toHost(ip('127.0.0.1'), 80)).toBeUndefined();
    expect(map.toHost(0, 80)).toBeUndefined();
    expect(map.toHost(config.ipv4.dns, 53)).toEqual({ address: '127.0.0.53', port: 53 });
  });
});

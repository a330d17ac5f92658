import { describe, expect, it } from 'vitest';
import { resolveAttachRequest, resolveConfigure } from '../../src/link/tap-options.js';
import { UsernsMode } from '../../src/native/native-addon.js';

describe('resolveAttachRequest', () => {
  it('targets /proc/PID/ns/net and joins the user namespace only if different', () => {
    expect(resolveAttachRequest({ target: { pid: 42 } })).toEqual({
      netnsPath: '/proc/42/ns/net',
      usernsMode: UsernsMode.IfDifferent,
      usernsPath: '/proc/42/ns/user',
      tapName: 'tap0',
      vnetHdr: false,
    });
  });

  it('joins no user namespace for a path target unless one is given', () => {
    expect(resolveAttachRequest({ target: { path: '/run/netns/a' }, tapName: 'tap1', offloads: true })).toEqual({
      netnsPath: '/run/netns/a',
      usernsMode: UsernsMode.None,
      tapName: 'tap1',
      vnetHdr: true,
    });
    expect(resolveAttachRequest({ target: { path: '/run/netns/a' }, usernsPath: '/run/user/ns' })).toMatchObject({
      usernsMode: UsernsMode.Always,
      usernsPath: '/run/user/ns',
    });
  });

  it('rejects bad names, PIDs and MTUs', () => {
    expect(() => resolveAttachRequest({ target: { pid: 0 } })).toThrow('invalid PID 0');
    expect(() => resolveAttachRequest({ target: { pid: 1 }, tapName: 'a/b' })).toThrow(/invalid interface name/);
    expect(() => resolveAttachRequest({ target: { pid: 1 }, tapName: 'x'.repeat(16) })).toThrow(/invalid interface name/);
    expect(() => resolveAttachRequest({ target: { pid: 1 }, mtu: 67 })).toThrow('MTU must be an integer from 68 to 65521, got "67"');
  });
});

describe('resolveConfigure', () => {
  it('gives slirp4netns defaults: 10.0.2.100/24 via 10.0.2.2', () => {
    expect(resolveConfigure({}, 1500)).toEqual({ mtu: 1500, address: 0x0a000264, netmask: 0xffffff00, gateway: 0x0a000202 });
  });

  it('derives addresses from --cidr and parses the MAC', () => {
    const c = resolveConfigure({ cidr: '10.8.0.0/16', macAddress: '52:54:00:12:34:56', mtu: 65520 }, 1500);
    expect(c).toMatchObject({ mtu: 65520, address: 0x0a080064, netmask: 0xffff0000, gateway: 0x0a080002 });
    expect([...(c.mac ?? [])]).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
  });

  it('rejects a small network, a multicast MAC and addresses outside the network', () => {
    expect(() => resolveConfigure({ cidr: '10.0.2.0/26' }, 1500)).toThrow(/prefix length needs to be 1-25/);
    expect(() => resolveConfigure({ macAddress: '01:00:5e:00:00:01' }, 1500)).toThrow(/multicast/);
    expect(() => resolveConfigure({ gateway: '10.0.3.2' }, 1500)).toThrow('gateway is outside 10.0.2.0/24');
  });
});

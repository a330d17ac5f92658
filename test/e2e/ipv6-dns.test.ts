/**
 * DNS over IPv6, end to end with the guest's kernel (issue 15): the guest configured by SLAAC alone
 * (`-6 --configure`) asks fd00::3, over UDP and TCP, for A and AAAA records. The implementation runs
 * in a private mount namespace whose /etc/resolv.conf (a bind mount, test/support/dns-stub.ts) names
 * a stub resolver of ours: on [::1]:53, or on 127.53.X.Y:53 for an IPv4 upstream. Also what the
 * router advertisement says about DNS (RDNSS) in each case.
 *
 * Against the real slirp4netns (the reference) and tslirp once 'dns' is in TSLIRP_IPV6. Network rule:
 * queries go only to our stubs on loopback; the machine's resolver is never seen by either.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestDnsQuery, STUB_A, STUB_AAAA, STUB_NAME, stubResolverOnIpv6Loopback, stubResolverOnPort53, writeResolvConf } from '../support/dns-stub.js';
import { ipv6Implementations, requireIpv6, SLIRP4NETNS_IPV6 as S, solicitRouterAdvertisement, startIpv6Guest } from '../support/ipv6-guest.js';
import { testResources } from '../support/published-guest.js';

const { tracker, cleanups, release } = testResources();
afterEach(release);

/** A resolv.conf naming nameserver, in a scratch directory removed after the test. */
function resolvConf(nameserver: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tslirp-ipv6-dns-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'resolv.conf');
  writeResolvConf(path, nameserver);
  return path;
}

for (const impl of ipv6Implementations('dns')) {
  describe(`DNS over IPv6 through ${impl}: fd00::3`, () => {
    it('resolv.conf names [::1]: the RA carries RDNSS fd00::3; A and AAAA over UDP and TCP answered by the stub on [::1]', async (ctx) => {
      requireIpv6(ctx, impl, ['mount']);
      const stub = await stubResolverOnIpv6Loopback(cleanups);
      const { guest } = await startIpv6Guest(impl, tracker, cleanups, { resolvConf: resolvConf('::1') });
      const ra = await solicitRouterAdvertisement(guest.ns);
      console.log(`${impl} RA with an IPv6 nameserver:`, JSON.stringify(ra?.options));
      const rdnss = ra?.options.find((o) => o.type === 'rdnss');
      expect(rdnss).toMatchObject({ servers: [S.dns] });
      if (impl === 'slirp4netns') {
        // libslirp: RDNSS comes last, lifetime 2 × NDP_MaxRtrAdvInterval taken as seconds (1200000 s).
        expect(ra?.options.map((o) => o.type)).toEqual(['source-link-layer', 'prefix', 'rdnss']);
        expect(rdnss).toMatchObject({ lifetime: S.raRdnssLifetime });
      }
      expect(await guestDnsQuery(guest.ns, S.dns, 'udp')).toBe(`answer 0 ${STUB_A}`);
      expect(await guestDnsQuery(guest.ns, S.dns, 'udp', STUB_NAME, 'AAAA')).toBe(`answer 0 ${STUB_AAAA}`);
      expect(await guestDnsQuery(guest.ns, S.dns, 'tcp')).toBe(`answer 0 ${STUB_A}`);
      expect(await guestDnsQuery(guest.ns, S.dns, 'tcp', STUB_NAME, 'AAAA')).toBe(`answer 0 ${STUB_AAAA}`);
      // Answers are relayed unchanged: NXDOMAIN comes through as it is.
      expect(await guestDnsQuery(guest.ns, S.dns, 'udp', 'unknown.test')).toBe('answer 3 -');
      expect(stub.queries).toEqual([`udp:${STUB_NAME}/1`, `udp:${STUB_NAME}/28`, `tcp:${STUB_NAME}/1`, `tcp:${STUB_NAME}/28`, 'udp:unknown.test/1']);
      expect(new Set(stub.peers)).toEqual(new Set(['::1']));
    });

    it(`resolv.conf names only an IPv4 resolver: ${impl === 'slirp4netns' ? 'no RDNSS, fd00::3 answers nothing' : 'fd00::3 forwards to it'} (difference)`, async (ctx) => {
      requireIpv6(ctx, impl, ['mount']);
      const stub = await stubResolverOnPort53(cleanups);
      const { guest } = await startIpv6Guest(impl, tracker, cleanups, { resolvConf: resolvConf(stub.address) });
      const ra = await solicitRouterAdvertisement(guest.ns);
      console.log(`${impl} RA with an IPv4 nameserver:`, JSON.stringify(ra?.options));
      const udp = await guestDnsQuery(guest.ns, S.dns, 'udp');
      const tcp = await guestDnsQuery(guest.ns, S.dns, 'tcp', STUB_NAME, 'AAAA');
      if (impl === 'slirp4netns') {
        // PINNED DIFFERENCE: libslirp forwards fd00::3 only to an IPv6 nameserver (get_dns6_addr)
        // and announces RDNSS only then. Without one, it answers the query with ICMPv6 destination
        // unreachable (no route) from fe80::2: a soft error for UDP (timeout), ENETUNREACH for TCP.
        expect(ra?.options.map((o) => o.type)).toEqual(['source-link-layer', 'prefix']);
        expect(udp).toBe('no-answer TimeoutError');
        expect(tcp).toBe('no-answer OSError:ENETUNREACH');
        expect(stub.queries).toEqual([]);
      } else {
        // Issue 15: fd00::3 is forwarded to the same upstream as 10.0.2.3, whatever its family,
        // and always announced.
        expect(ra?.options.find((o) => o.type === 'rdnss')).toMatchObject({ servers: [S.dns] });
        expect(udp).toBe(`answer 0 ${STUB_A}`);
        expect(tcp).toBe(`answer 0 ${STUB_AAAA}`);
        expect(stub.queries).toEqual([`udp:${STUB_NAME}/1`, `tcp:${STUB_NAME}/28`]);
      }
    });

    it('--disable-host-loopback with the resolver on [::1]: DNS is still relayed, [fd00::2] stays closed', async (ctx) => {
      requireIpv6(ctx, impl, ['mount']);
      const stub = await stubResolverOnIpv6Loopback(cleanups);
      const { guest } = await startIpv6Guest(impl, tracker, cleanups, { resolvConf: resolvConf('::1'), extraArgs: ['--disable-host-loopback'] });
      // As for 10.0.2.3 (dhcp-dns.test.ts): libslirp checks disable_host_loopback for the gateway
      // alias only, the DNS alias goes to the resolv.conf nameserver whatever it is, loopback
      // included; tslirp relays that one address and port too (podman and RootlessKit pass
      // --disable-host-loopback by default, and systemd-resolved listens on loopback).
      expect(await guestDnsQuery(guest.ns, S.dns, 'udp')).toBe(`answer 0 ${STUB_A}`);
      expect(await guestDnsQuery(guest.ns, S.dns, 'tcp')).toBe(`answer 0 ${STUB_A}`);
      // The same resolver through the gateway alias is blocked: ICMPv6 no route, ENETUNREACH.
      expect(await guestDnsQuery(guest.ns, S.gateway, 'tcp')).toBe('no-answer OSError:ENETUNREACH');
      expect(await guestDnsQuery(guest.ns, S.gateway, 'udp')).toBe('no-answer TimeoutError');
      expect(stub.queries).toEqual([`udp:${STUB_NAME}/1`, `tcp:${STUB_NAME}/1`]);
    });
  });
}

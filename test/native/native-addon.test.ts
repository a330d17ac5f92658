/**
 * The one loader of the native addon (src/native/native-addon.ts): the addon this checkout built has
 * every function NativeAddon declares, and an addon that lacks one or has another descriptor layout
 * is named as such (loading it would fail with that reason) instead of failing later at the call.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadNativeAddon, packageRoot, TX_DESC_WORDS, versionMismatch } from '../../src/native/native-addon.js';

const built = existsSync(join(packageRoot(), 'build', 'Release', 'tslirp_native.node'));

describe('the native addon loader', () => {
  test.skipIf(!built)('the built addon matches this version', () => {
    const addon = loadNativeAddon();
    expect(versionMismatch(addon)).toBeUndefined();
    expect(loadNativeAddon()).toBe(addon); // loaded once
  });

  test('an addon from other sources is named for what it lacks or has otherwise', () => {
    const fn = (): number => 0;
    const complete = {
      attach: fn,
      tapInfo: fn,
      tapIoCreate: fn,
      tapIoStart: fn,
      tapIoFlush: fn,
      tapIoClose: fn,
      tapIoStats: fn,
      tapIoReleaseTx: fn,
      mallocInfo: fn,
      mallocTrim: fn,
      loopIdleMetricsOff: fn,
      busyPollStart: fn,
      busyPollStats: fn,
      busyPollNextWindow: fn,
      busyPollNextBackoff: fn,
      mallocLimitArenas: fn,
      v8LowMemory: fn,
      sandboxApply: fn,
      sandboxPivot: fn,
      sandboxRemoveApiSocket: fn,
      icmpSocketOpen: fn,
      socketDup: fn,
      checksumSum: fn,
      tcpInit: fn,
      tcpOpen: fn,
      tcpAdopt: fn,
      tcpWatch: fn,
      tcpRecv: fn,
      tcpSend: fn,
      tcpShutdown: fn,
      tcpClose: fn,
      tcpListenerStart: fn,
      tcpListenerStop: fn,
      udpInit: fn,
      udpOpen: fn,
      udpSend: fn,
      udpRecv: fn,
      udpRecvError: fn,
      udpClose: fn,
      udpScopeName: fn,
      TX_DESC_WORDS,
    };
    expect(versionMismatch(complete)).toBeUndefined();
    const { sandboxApply: _sandbox, icmpSocketOpen: _icmp, ...older } = complete;
    expect(versionMismatch(older)).toBe('no sandboxApply, icmpSocketOpen');
    expect(versionMismatch({ ...complete, TX_DESC_WORDS: 6 })).toBe(`TX_DESC_WORDS 6, expected ${TX_DESC_WORDS}`);
    expect(versionMismatch(undefined)).toBe('not an object');
  });
});

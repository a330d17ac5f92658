/**
 * TSLIRP_PCAP_RING (src/cli/pcap-ring-option.ts): defaults, keys, and one-line errors.
 */
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PcapRingSpecError, pcapRingSpecFromEnvironment } from '../../src/cli/pcap-ring-option.js';

const spec = (value: string | undefined) => pcapRingSpecFromEnvironment(value === undefined ? {} : { TSLIRP_PCAP_RING: value });

describe('TSLIRP_PCAP_RING', () => {
  it('is off when unset or empty, on with defaults for 1 / on', () => {
    expect(spec(undefined)).toBeUndefined();
    expect(spec(' ')).toBeUndefined();
    const defaults = { dir: tmpdir(), maxBytes: 32 << 20, maxSeconds: 30, snaplen: 160 };
    expect(spec('1')).toEqual(defaults);
    expect(spec('on')).toEqual(defaults);
  });

  it('takes dir, mb, seconds and snaplen', () => {
    expect(spec('dir=/var/tmp/x, mb=8,seconds=5,snaplen=256')).toEqual({ dir: '/var/tmp/x', maxBytes: 8 << 20, maxSeconds: 5, snaplen: 256 });
  });

  it.each([
    ['dir=relative', /dir must be an absolute path/],
    ['mb=0', /mb: "0" is not an integer in 1 … 1024/],
    ['seconds=1.5', /seconds: "1.5" is not an integer/],
    ['snaplen=10', /snaplen: "10" is not an integer in 64 … 65535/],
    ['size=1', /unknown key "size"/],
    ['mb', /"mb" is not key=value/],
  ])('refuses %s', (value, message) => {
    expect(() => spec(value)).toThrow(PcapRingSpecError);
    expect(() => spec(value)).toThrow(message);
  });
});

import { describe, expect, it } from 'vitest';
import { NO_OUTBOUND_BIND, outboundLocalAddress } from '../../src/host/outbound-bind.js';

describe('outboundLocalAddress', () => {
  const bind = { ipv4: '192.0.2.7', ipv6: '2001:db8::7' };
  it('binds by destination family', () => {
    expect(outboundLocalAddress(bind, '198.51.100.1')).toBe('192.0.2.7');
    expect(outboundLocalAddress(bind, '2001:db8::1')).toBe('2001:db8::7');
    expect(outboundLocalAddress({ ipv4: '192.0.2.7', ipv6: undefined }, '2001:db8::1')).toBeUndefined();
  });
  it('leaves loopback destinations and the defaults unbound', () => {
    for (const d of ['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1']) expect(outboundLocalAddress(bind, d)).toBeUndefined();
    expect(outboundLocalAddress(NO_OUTBOUND_BIND, '198.51.100.1')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { parseAttachArgs } from '../../src/cli/attach-args.js';

describe('parseAttachArgs', () => {
  it('parses the podman and rootlesskit spellings of --mtu and --configure', () => {
    expect(parseAttachArgs(['--mtu=65520', '-c', '123', 'tap0'])).toMatchObject({ mtu: 65520, configure: true, target: '123', tapName: 'tap0' });
    expect(parseAttachArgs(['--mtu', '65520', '123'])).toMatchObject({ mtu: 65520, configure: false, tapName: 'tap0' });
    expect(parseAttachArgs(['-m', '9000', '--configure', '7'])).toMatchObject({ mtu: 9000, configure: true });
    expect(parseAttachArgs(['-m9000', '7'])).toMatchObject({ mtu: 9000 });
  });

  it('defaults to MTU 1500, tap0, pid, no offloads', () => {
    expect(parseAttachArgs(['42'])).toEqual({
      help: false,
      configure: false,
      mtu: 1500,
      macAddress: undefined,
      offloads: false,
      netnsType: 'pid',
      usernsPath: undefined,
      target: '42',
      tapName: 'tap0',
    });
  });

  it('takes --macaddress, --enable-offloads, --netns-type=path and --userns-path', () => {
    expect(
      parseAttachArgs(['-c', '--macaddress=52:54:00:12:34:56', '--enable-offloads', '--netns-type=path', '--userns-path', '/u', '/run/netns/x', 'tap1']),
    ).toMatchObject({ macAddress: '52:54:00:12:34:56', offloads: true, netnsType: 'path', usernsPath: '/u', target: '/run/netns/x', tapName: 'tap1' });
  });

  it('answers --help without needing a target', () => {
    expect(parseAttachArgs(['--help']).help).toBe(true);
    expect(parseAttachArgs(['-h']).help).toBe(true);
  });

  it('rejects bad input with one-line messages', () => {
    expect(() => parseAttachArgs(['--mtu=10', '1'])).toThrow('MTU must be an integer from 68 to 65521, got "10"');
    expect(() => parseAttachArgs(['--mtu=65522', '1'])).toThrow(/MTU must be/);
    expect(() => parseAttachArgs(['--mtu'])).toThrow('option --mtu needs a value');
    expect(() => parseAttachArgs(['--bogus', '1'])).toThrow('unknown option --bogus');
    expect(() => parseAttachArgs([])).toThrow(/expected PID\|PATH/);
    expect(() => parseAttachArgs(['1', 'tap0', 'extra'])).toThrow(/expected PID\|PATH/);
    expect(() => parseAttachArgs(['abc'])).toThrow('invalid PID "abc"');
    expect(() => parseAttachArgs(['--netns-type=foo', '1'])).toThrow(/pid or path/);
    expect(() => parseAttachArgs(['--macaddress=52:54:00:12:34:56', '1'])).toThrow('--macaddress needs --configure');
  });
});

/**
 * A TapLink on an fd it inherits (env TAP_FD: one end of an AF_UNIX SOCK_SEQPACKET pair, which keeps
 * frame boundaries as a TAP does) that echoes every frame back, one flush per batch. Two control
 * frames (60 bytes, space-padded): `STATS!` is answered with the link's counters as JSON, `BLOCK!<ms>`
 * keeps the event loop busy that long (so frames pile up in the socket) and is then echoed. Run by
 * test/link/tap-io-modes.test.ts through python3, which makes the socket pair; needs no privileges.
 */
import { loadNativeAddon } from '../../src/native/native-addon.js';
import { TapLink } from '../../src/link/tap-link.js';

const fd = Number(process.env.TAP_FD);
const link = new TapLink(loadNativeAddon(), fd, { ifname: 'pair', vnetHdrSize: 0, offloads: 0 }, 65520, {
  onError: (error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  },
});
link.start({
  receiveBatch(batch) {
    for (let i = 0; i < batch.count; i++) {
      const frame = batch.data.subarray(batch.offsets[i], batch.offsets[i] + batch.lengths[i]);
      const control = frame.length === 60 ? Buffer.from(frame).toString('latin1').trimEnd() : '';
      if (control === 'STATS!') {
        link.transmit(Buffer.from(JSON.stringify(link.stats())), null);
        continue;
      }
      if (control.startsWith('BLOCK!')) {
        const until = performance.now() + Number(control.slice(6));
        while (performance.now() < until);
      }
      link.transmit(frame, null);
    }
    link.flush();
  },
});
process.once('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify(link.stats())}\n`);
  link.close();
  process.exit(0);
});
process.stdout.write('ready\n');

/**
 * How both CLIs (slirp4netns mode and `tslirp run`) set up Node's event loop once the engine exists,
 * before traffic: libuv's idle-time metrics off (Node turns them on, and they cost a second, 0-timeout
 * epoll_pwait per wakeup; nothing here reads the loop's utilisation), then busy polling
 * (native/busy_poll.c) for up to `busyPollMicroseconds` before each sleep. Busy polling must start
 * before a sandbox, whose root may not show /proc (it reads /proc/loadavg).
 */
import type { NativeAddon } from '../native/native-addon.js';

export function tuneEventLoop(
  addon: Pick<NativeAddon, 'loopIdleMetricsOff' | 'busyPollStart'>,
  busyPollMicroseconds: number,
  warn: (message: string) => void,
): void {
  addon.loopIdleMetricsOff();
  if (!addon.busyPollStart(busyPollMicroseconds, true) && busyPollMicroseconds > 0) {
    warn('busy polling is off: this libuv is not the one the native addon was built against');
  }
}

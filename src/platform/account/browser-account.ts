import { AccountSession } from '../../core/account/account-session.ts';
import { systemClock } from '../../core/clock.ts';
import type { DeviceIdentity } from '../../core/identity.ts';
import { HttpAccountApi } from './http-account-api.ts';
import { IdbAccountStore } from './idb-account-store.ts';

/** This profile's account session: the IndexedDB store and the page's own server. */
export function openBrowserAccountSession(device: DeviceIdentity): Promise<AccountSession> {
  return AccountSession.open({
    subtle: crypto.subtle,
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    clock: systemClock,
    store: new IdbAccountStore(),
    api: new HttpAccountApi(location.origin),
    device,
    kind: 'tab',
    defaultDeviceName: browserDeviceName(),
  });
}

/** A default name for this device's certificate, e.g. "Chrome on Linux". */
export function browserDeviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac OS X/.test(ua)
        ? 'macOS'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux|CrOS/.test(ua)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}

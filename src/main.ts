import { mount } from 'svelte';
import App from './ui/App.svelte';
import { MeshState } from './ui/state.svelte.ts';
import { bootBrowserNode, type BrowserApp } from './platform/browser-app.ts';
import { createWos, type Wos } from './sdk/wos.ts';
import { parseShareRoute } from './sdk/fragment.ts';
import { WosError } from './core/errors.ts';
import { createShareGuest } from './platform/share/browser-share.ts';
import ShareGuestView from './ui/ShareGuestView.svelte';
import { parsePairRoute } from './platform/account/browser-pairing.ts';
import PairHostView from './ui/PairHostView.svelte';
import './ui/theme.css';

declare global {
  interface Window {
    wos: Wos;
    /** The tab's own node, for the browser test suite and console debugging. */
    __wosApp: BrowserApp;
  }
}

const shareCode = parseShareRoute(location.hash);
const pairKey = parsePairRoute(location.hash);
if (pairKey !== undefined) {
  // A pairing link opened on an enrolled device: only the pairing page, no node of its own.
  mount(PairHostView, { target: document.getElementById('app')!, props: { pairKey } });
} else if (shareCode !== undefined) {
  // A share link: a read-only guest page, no node of its own (the hash is left as it is).
  const guest = createShareGuest();
  window.wos = createWos({
    ready: new Promise(() => {}),
    kind: 'tab',
    invite: () => '',
    share: {
      host: () => Promise.reject(new WosError('SHARE_UNAVAILABLE', 'a guest page shares nothing')),
      read: (link, o) => guest.read(link, o),
    },
  });
  mount(ShareGuestView, {
    target: document.getElementById('app')!,
    props: { guest, link: shareCode },
  });
} else {
  const app = bootBrowserNode();
  window.wos = app.wos;
  window.__wosApp = app;
  mount(App, { target: document.getElementById('app')!, props: { mesh: new MeshState(app) } });
}

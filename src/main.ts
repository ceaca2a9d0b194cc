import { mount } from 'svelte';
import App from './ui/App.svelte';
import { MeshState } from './ui/state.svelte.ts';
import { bootBrowserNode, type BrowserApp } from './platform/browser-app.ts';
import type { Wos } from './sdk/wos.ts';
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

const pairKey = parsePairRoute(location.hash);
if (pairKey !== undefined) {
  // A pairing link opened on an enrolled device: only the pairing page, no node of its own.
  mount(PairHostView, { target: document.getElementById('app')!, props: { pairKey } });
} else {
  const app = bootBrowserNode();
  window.wos = app.wos;
  window.__wosApp = app;
  mount(App, { target: document.getElementById('app')!, props: { mesh: new MeshState(app) } });
}

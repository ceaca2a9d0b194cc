/**
 * The document of the sandbox iframe. It is loaded with `sandbox="allow-scripts"` (no
 * `allow-same-origin`), so it runs with an opaque origin: no access to the host's storage,
 * cookies or DOM. Its CSP is inherited by the blob: workers it starts, where kernels run:
 * no network (`connect-src 'none'`), no `eval`, scripts only from blob: URLs. WebAssembly
 * compilation is allowed (`'wasm-unsafe-eval'`) unless the host turns it off.
 *
 * The bootstrap takes one MessagePort from its parent and then only creates and terminates
 * workers from the worker source the page sends; it never evaluates kernel code. From a worker
 * it hears only its first message ("started") and reports error events of workers that never
 * started; errors after that are a kernel's own. `RTCPeerConnection` exists in this document (CSP does not
 * govern WebRTC) but not in workers, so foreign code must only ever run in the workers.
 */
export function sandboxCsp(allowWasm: boolean): string {
  const wasm = allowWasm ? " 'wasm-unsafe-eval'" : '';
  return `default-src 'none'; script-src 'unsafe-inline' blob:${wasm}; worker-src blob:; connect-src 'none'; base-uri 'none'; form-action 'none'`;
}

const BOOTSTRAP = `(() => {
  'use strict';
  let url = '';
  const workers = new Map();
  const boot = (e) => {
    const control = e.ports[0];
    if (e.source !== parent || !control) return;
    removeEventListener('message', boot);
    control.onmessage = ({ data, ports }) => {
      if (data.t === 'init' && !url) {
        url = URL.createObjectURL(new Blob([data.workerSource], { type: 'text/javascript' }));
      } else if (data.t === 'spawn' && url && ports[0] && !workers.has(data.wid)) {
        const wid = data.wid;
        const w = new Worker(url, { name: 'wos-kernel-' + wid });
        let up = false;
        w.onmessage = () => {
          up = true;
          w.onmessage = null;
        };
        w.onerror = (ev) => {
          if (up) return;
          ev.preventDefault();
          control.postMessage({ t: 'worker-error', wid, message: String(ev.message || 'worker failed') });
        };
        w.postMessage({ stubs: data.stubs !== false }, [ports[0]]);
        workers.set(wid, w);
      } else if (data.t === 'ping') {
        control.postMessage({ t: 'pong' });
      } else if (data.t === 'kill') {
        const w = workers.get(data.wid);
        if (w) w.terminate();
        workers.delete(data.wid);
      }
    };
    control.postMessage({ t: 'ready' });
  };
  addEventListener('message', boot);
})();`;

export function sandboxSrcdoc(allowWasm: boolean): string {
  return [
    '<!doctype html><html><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${sandboxCsp(allowWasm)}">`,
    `<script>${BOOTSTRAP}</script>`,
    '</head><body></body></html>',
  ].join('');
}

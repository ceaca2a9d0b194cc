/**
 * Courtesy stubs for a kernel worker: network, storage and cross-context APIs are replaced,
 * before any kernel is imported, by stubs that throw the error `violation(api)` makes, so a
 * kernel gets a clear message instead of an opaque network or security error. They are not the
 * enforcement: the opaque origin and the CSP inherited from the sandbox iframe are (a kernel
 * that reaches a real constructor some other way still cannot connect or read storage).
 *
 * Properties are redefined wherever they live on the prototype chain (`fetch` and `indexedDB`
 * are on `WorkerGlobalScope.prototype`), non-writable and non-configurable, so neither
 * prototype lookups nor reassignment nor `delete` bring the real one back. APIs a worker lacks
 * are left absent.
 *
 * Self-contained (no reference outside its body): the kernel worker's source embeds its text.
 */
export function installStubs(violation: (api: string) => Error): void {
  // Functions and constructors that reach the network, storage or other contexts.
  const functions = [
    'fetch',
    'XMLHttpRequest',
    'WebSocket',
    'WebSocketStream',
    'EventSource',
    'WebTransport',
    'importScripts',
    'BroadcastChannel',
    'Worker',
    'SharedWorker',
    'RTCPeerConnection',
  ];
  // Objects whose every member is forbidden.
  const objects = ['indexedDB', 'caches', 'cookieStore'];
  const navigatorApis = ['sendBeacon', 'storage', 'locks', 'serviceWorker'];

  const fn = (api: string): unknown =>
    function blocked(): never {
      throw violation(api);
    };
  const obj = (api: string): unknown =>
    new Proxy(Object.create(null) as object, {
      get(_t, key) {
        if (typeof key === 'symbol') return undefined;
        throw violation(`${api}.${key}`);
      },
    });
  const replace = (target: object, name: string, make: () => unknown): void => {
    const holders: object[] = [];
    for (let o: object | null = target; o; o = Object.getPrototypeOf(o) as object | null) {
      if (Object.prototype.hasOwnProperty.call(o, name)) holders.push(o);
    }
    // Shadow on the object itself too, in case a prototype refuses redefinition.
    if (holders.length > 0 && holders[0] !== target) holders.unshift(target);
    for (const o of holders) {
      try {
        Object.defineProperty(o, name, { value: make(), writable: false, configurable: false });
      } catch {
        // non-configurable on this prototype: the own-property shadow still applies
      }
    }
  };

  for (const name of functions) replace(globalThis, name, () => fn(name));
  for (const name of objects) replace(globalThis, name, () => obj(name));
  const nav = (globalThis as { navigator?: object }).navigator;
  for (const name of nav ? navigatorApis : []) {
    const api = `navigator.${name}`;
    replace(nav!, name, () => (name === 'sendBeacon' ? fn(api) : obj(api)));
  }
}

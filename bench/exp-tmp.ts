import { assertLoopbackOnly } from '../test/support/netns.ts';
assertLoopbackOnly();
const { Harness } = await import('./lib/harness.ts');
const h = await Harness.start();
try {
  const a = await h.openTab(h.url);
  const out = await a.page.evaluate(async () => {
    const rt = await window.__wosApp.started;
    const coder = rt.coder;
    const MiB = 1 << 20,
      FILE = 32 * MiB,
      STRIPE = 4 * MiB;
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
    ]);
    const file = new Uint8Array(FILE);
    for (let o = 0; o < FILE; o += 65536) crypto.getRandomValues(file.subarray(o, o + 65536));
    const res: string[] = [];
    for (const [k, n] of [
      [4, 6],
      [2, 4],
    ] as const) {
      const chunk = STRIPE / k - 16;
      const stripes = Math.ceil(FILE / STRIPE);
      const seal = async (s: number) =>
        Promise.all(
          [...Array(k).keys()].map(async (i) => {
            const o = (s * k + i) * chunk;
            const iv = new Uint8Array(12);
            iv[0] = s;
            iv[1] = i;
            return new Uint8Array(
              await crypto.subtle.encrypt(
                { name: 'AES-GCM', iv },
                key,
                file.subarray(o, Math.min(FILE, o + chunk)),
              ),
            );
          }),
        );
      const pad = (d: Uint8Array[]) =>
        d.map((c) => {
          if (c.length === chunk + 16) return c;
          const p = new Uint8Array(chunk + 16);
          p.set(c);
          return p;
        });
      const sealedAll = [] as Uint8Array[][];
      for (let s = 0; s < stripes; s++) sealedAll.push(pad(await seal(s)));
      const aes: number[] = [],
        cod: number[] = [],
        pipe: number[] = [];
      for (let r = 0; r < 4; r++) {
        let t = performance.now();
        for (let s = 0; s < stripes; s++) pad(await seal(s));
        aes.push(performance.now() - t);
        t = performance.now();
        for (let s = 0; s < stripes; s++) await coder.encode(sealedAll[s]!, n - k);
        cod.push(performance.now() - t);
        t = performance.now();
        const coding: Promise<unknown>[] = [];
        for (let s = 0; s < stripes; s++) {
          const d = pad(await seal(s));
          coding.push(coder.encodeOwned!(d, n - k));
          if (coding.length >= 2) await coding.shift();
        }
        await Promise.all(coding);
        pipe.push(performance.now() - t);
      }
      const med = (x: number[]) => x.slice(1).sort((p, q) => p - q)[1]!;
      const mbs = (ms: number) => FILE / 1e6 / (ms / 1000);
      const A = mbs(med(aes)),
        C = mbs(med(cod)),
        P = mbs(med(pipe));
      res.push(
        `(${k},${n}) aes ${A.toFixed(0)} coder ${C.toFixed(0)} pipeline ${P.toFixed(0)} ratio ${(P / Math.min(A, C)).toFixed(2)}`,
      );
    }
    return res.join('\n');
  });
  console.log(out);
} finally {
  await h.close();
}
process.exit(0);

/**
 * The Compute view's demo job: a Mandelbrot image cut into tiles, one kernel call per tile.
 * The kernel is plain ES-module source text, sent once to every node that runs it.
 */
export const MANDELBROT_KERNEL = `
export default function tile({ x0, y0, w, h, scale, cx, cy, maxIter }) {
  const out = new Uint16Array(w * h);
  for (let j = 0; j < h; j++) {
    const ci = cy + (y0 + j) * scale;
    for (let i = 0; i < w; i++) {
      const cr = cx + (x0 + i) * scale;
      let zr = 0, zi = 0, n = 0;
      while (n < maxIter && zr * zr + zi * zi <= 4) {
        const t = zr * zr - zi * zi + cr;
        zi = 2 * zr * zi + ci;
        zr = t;
        n++;
      }
      out[j * w + i] = n;
    }
  }
  return out;
}`;

export interface TileInput {
  x0: number;
  y0: number;
  w: number;
  h: number;
  scale: number;
  cx: number;
  cy: number;
  maxIter: number;
}

export function tiles(size: number, grid: number, maxIter: number): TileInput[] {
  const t = size / grid;
  const scale = 3 / size;
  const out: TileInput[] = [];
  for (let y = 0; y < grid; y++) {
    for (let x = 0; x < grid; x++) {
      out.push({ x0: x * t, y0: y * t, w: t, h: t, scale, cx: -2.2, cy: -1.5, maxIter });
    }
  }
  return out;
}

/** A stable hue per node id, so each node's tiles get their own tint. */
export function hueOf(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 360;
}

export function paint(
  ctx: CanvasRenderingContext2D,
  t: TileInput,
  iters: Uint16Array,
  hue: number,
): void {
  const img = ctx.createImageData(t.w, t.h);
  const [r0, g0, b0] = hslToRgb(hue, 0.75, 0.5);
  for (let i = 0; i < iters.length; i++) {
    const n = iters[i]!;
    const v = n >= t.maxIter ? 0 : Math.sqrt(n / t.maxIter);
    img.data[i * 4] = r0 * v;
    img.data[i * 4 + 1] = g0 * v;
    img.data[i * 4 + 2] = b0 * v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, t.x0, t.y0);
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const k = (n: number): number => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [255 * f(0) * 2, 255 * f(8) * 2, 255 * f(4) * 2];
}

import type { WgslKernelSpec } from '../../../core/compute/kernel.ts';

/**
 * Sample WGSL kernels (each with its JS fallback, same numbers): the demos, the browser tests
 * and the GPU benchmark use them. Every shader follows the dispatch convention of
 * `WebGpuExecutor`: index `gid.x + gid.y * nwg.x * WG` (2D past 65 535 workgroups), then
 * bounds-check against `arrayLength(&out)`.
 */
const index = (wg: number): string =>
  `let i = gid.x + gid.y * nwg.x * ${wg}u;\n  if (i >= arrayLength(&out)) { return; }`;
const builtins =
  '@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>';

/** `out[i] = a[i] + b[i]` over f32. */
export function vectorAddSpec(wg = 64): WgslKernelSpec {
  return {
    kind: 'wgsl',
    source: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${wg})
fn main(${builtins}) {
  ${index(wg)}
  out[i] = a[i] + b[i];
}`,
    entryPoint: 'main',
    workgroupSize: wg,
    bindings: [
      { binding: 0, name: 'a', type: 'storage-read', element: 'f32' },
      { binding: 1, name: 'b', type: 'storage-read', element: 'f32' },
      { binding: 2, name: 'out', type: 'storage', element: 'f32' },
    ],
    size: 'a',
    fallback: `export default ({ a, b }) => {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
};`,
  };
}

/** Row-major `out = a × b` for n×n f32 matrices (`n` a u32 uniform), accumulated in f32. */
export function matmulSpec(wg = 64): WgslKernelSpec {
  return {
    kind: 'wgsl',
    source: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<uniform> n: u32;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(${wg})
fn main(${builtins}) {
  ${index(wg)}
  let row = i / n;
  let col = i % n;
  var s = 0.0;
  for (var k = 0u; k < n; k++) {
    s = s + a[row * n + k] * b[k * n + col];
  }
  out[i] = s;
}`,
    entryPoint: 'main',
    workgroupSize: wg,
    bindings: [
      { binding: 0, name: 'a', type: 'storage-read', element: 'f32' },
      { binding: 1, name: 'b', type: 'storage-read', element: 'f32' },
      { binding: 2, name: 'n', type: 'uniform', element: 'u32' },
      { binding: 3, name: 'out', type: 'storage', element: 'f32' },
    ],
    size: 'a',
    fallback: `export default ({ a, b, n }) => {
  const out = new Float32Array(n * n);
  const f = Math.fround;
  for (let r = 0; r < n; r++)
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let k = 0; k < n; k++) s = f(s + f(a[r * n + k] * b[k * n + c]));
      out[r * n + c] = s;
    }
  return out;
};`,
  };
}

/**
 * The same product with 16×16 tiles staged in workgroup memory (256 invocations a workgroup,
 * one output tile each): `n` must be a multiple of 16. Same summation order as `matmulSpec`.
 */
export function matmulTiledSpec(): WgslKernelSpec {
  return {
    ...matmulSpec(256),
    source: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<uniform> n: u32;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
var<workgroup> ta: array<f32, 256>;
var<workgroup> tb: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let tiles = n / 16u;
  let w = wid.x + wid.y * nwg.x;
  let row = (w / tiles) * 16u + li / 16u;
  let col = (w % tiles) * 16u + li % 16u;
  let inside = row < n;
  var s = 0.0;
  for (var t = 0u; t < tiles; t++) {
    ta[li] = select(0.0, a[row * n + t * 16u + li % 16u], inside);
    tb[li] = select(0.0, b[(t * 16u + li / 16u) * n + col], inside);
    workgroupBarrier();
    for (var k = 0u; k < 16u; k++) {
      s = s + ta[(li / 16u) * 16u + k] * tb[k * 16u + li % 16u];
    }
    workgroupBarrier();
  }
  if (inside) { out[row * n + col] = s; }
}`,
  };
}

/** Collatz steps to reach 1 for each `start[i]` (u32, capped at `cap` steps). */
export function collatzSpec(wg = 64, cap = 1000): WgslKernelSpec {
  return {
    kind: 'wgsl',
    source: `@group(0) @binding(0) var<storage, read> start: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(${wg})
fn main(${builtins}) {
  ${index(wg)}
  var x = start[i];
  var steps = 0u;
  while (x > 1u && steps < ${cap}u) {
    if ((x & 1u) == 1u) { x = 3u * x + 1u; } else { x = x / 2u; }
    steps = steps + 1u;
  }
  out[i] = steps;
}`,
    entryPoint: 'main',
    workgroupSize: wg,
    bindings: [
      { binding: 0, name: 'start', type: 'storage-read', element: 'u32' },
      { binding: 1, name: 'out', type: 'storage', element: 'u32' },
    ],
    size: 'start',
    fallback: `export default ({ start }) => {
  const out = new Uint32Array(start.length);
  for (let i = 0; i < start.length; i++) {
    let x = start[i];
    let steps = 0;
    while (x > 1 && steps < ${cap}) {
      x = x % 2 === 1 ? (3 * x + 1) >>> 0 : x / 2;
      steps++;
    }
    out[i] = steps;
  }
  return out;
};`,
  };
}

/** murmur3's fmix32 of `key[i] ^ seed` (u32; `seed` a u32 uniform). */
export function hashSpec(wg = 64): WgslKernelSpec {
  return {
    kind: 'wgsl',
    source: `@group(0) @binding(0) var<storage, read> key: array<u32>;
@group(0) @binding(1) var<uniform> seed: u32;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(${wg})
fn main(${builtins}) {
  ${index(wg)}
  var h = key[i] ^ seed;
  h = (h ^ (h >> 16u)) * 0x85ebca6bu;
  h = (h ^ (h >> 13u)) * 0xc2b2ae35u;
  out[i] = h ^ (h >> 16u);
}`,
    entryPoint: 'main',
    workgroupSize: wg,
    bindings: [
      { binding: 0, name: 'key', type: 'storage-read', element: 'u32' },
      { binding: 1, name: 'seed', type: 'uniform', element: 'u32' },
      { binding: 2, name: 'out', type: 'storage', element: 'u32' },
    ],
    size: 'key',
    fallback: `export default ({ key, seed }) => {
  const out = new Uint32Array(key.length);
  for (let i = 0; i < key.length; i++) {
    let h = (key[i] ^ seed) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    out[i] = (h ^ (h >>> 16)) >>> 0;
  }
  return out;
};`,
  };
}

/** `rounds` LCG steps per `key[i]` (`rounds` a u32 uniform): keeps a GPU busy, for load tests. */
export function spinSpec(wg = 64): WgslKernelSpec {
  return {
    kind: 'wgsl',
    source: `@group(0) @binding(0) var<storage, read> key: array<u32>;
@group(0) @binding(1) var<uniform> rounds: u32;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(${wg})
fn main(${builtins}) {
  ${index(wg)}
  var x = key[i];
  for (var r = 0u; r < rounds; r++) { x = x * 1664525u + 1013904223u; }
  out[i] = x;
}`,
    entryPoint: 'main',
    workgroupSize: wg,
    bindings: [
      { binding: 0, name: 'key', type: 'storage-read', element: 'u32' },
      { binding: 1, name: 'rounds', type: 'uniform', element: 'u32' },
      { binding: 2, name: 'out', type: 'storage', element: 'u32' },
    ],
    size: 'key',
    fallback: `export default ({ key, rounds }) => {
  const out = new Uint32Array(key.length);
  for (let i = 0; i < key.length; i++) {
    let x = key[i];
    for (let r = 0; r < rounds; r++) x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x;
  }
  return out;
};`,
  };
}

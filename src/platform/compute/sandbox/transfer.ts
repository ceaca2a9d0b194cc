/**
 * The ArrayBuffers inside a structured-clonable value, so they can be moved instead of copied.
 * Walks arrays, plain objects, Maps and Sets up to a visit budget: a huge array of numbers
 * costs nothing beyond the budget, and a buffer found twice is listed once (a duplicate in the
 * transfer list is a DataCloneError). Empty and shared buffers are skipped.
 *
 * Self-contained (no reference outside its body): the kernel worker's source embeds its text.
 */
export function transferables(value: unknown, budget = 10_000): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  const push = (items: readonly unknown[]): void => {
    for (let i = 0; i < items.length && i < budget; i++) {
      const item = items[i];
      if (typeof item === 'object' && item !== null) stack.push(item);
    }
  };
  let visits = 0;
  while (stack.length > 0 && visits++ < budget) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
      const b = v instanceof ArrayBuffer ? v : v.buffer;
      if (b instanceof ArrayBuffer && b.byteLength > 0) found.add(b);
    } else if (Array.isArray(v)) push(v);
    else if (v instanceof Map) push([...v.keys(), ...v.values()]);
    else if (v instanceof Set) push([...v]);
    else {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) push(Object.values(v));
    }
  }
  return [...found];
}

/** True for the error `postMessage` throws on an uncloneable value or untransferable buffer. */
export function isDataCloneError(e: unknown): boolean {
  return e instanceof Error && e.name === 'DataCloneError';
}

/**
 * The ArrayBuffers inside a structured-clonable value, so they can be moved instead of copied.
 * Walks arrays, plain objects, Maps and Sets up to a visit budget: a huge array of numbers
 * costs nothing beyond the budget, and a buffer found twice is listed once (a duplicate in the
 * transfer list is a DataCloneError). Empty and shared buffers are skipped.
 */
export function transferables(value: unknown, budget = 10_000): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  let visits = 0;
  const add = (b: ArrayBufferLike): void => {
    if (b instanceof ArrayBuffer && b.byteLength > 0) found.add(b);
  };
  while (stack.length > 0 && visits++ < budget) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof ArrayBuffer) add(v);
    else if (ArrayBuffer.isView(v)) add(v.buffer);
    else if (Array.isArray(v)) pushSome(stack, v, budget);
    else if (v instanceof Map) pushSome(stack, [...v.keys(), ...v.values()], budget);
    else if (v instanceof Set) pushSome(stack, [...v], budget);
    else if (isPlain(v)) pushSome(stack, Object.values(v), budget);
  }
  return [...found];
}

function pushSome(stack: unknown[], items: readonly unknown[], budget: number): void {
  for (let i = 0; i < items.length && i < budget; i++) {
    const item = items[i];
    if (typeof item === 'object' && item !== null) stack.push(item);
  }
}

function isPlain(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** True for the error `postMessage` throws on an uncloneable value or untransferable buffer. */
export function isDataCloneError(e: unknown): boolean {
  return e instanceof Error && e.name === 'DataCloneError';
}

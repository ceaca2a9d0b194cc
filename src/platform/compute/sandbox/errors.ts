import { KernelError, SandboxViolationError } from '../../../core/compute/errors.ts';
import { WosError } from '../../../core/errors.ts';
import type { ItemReply, WorkerReply } from './protocol.ts';

/** The kernel's module could not be loaded: syntax error, top-level throw, no entry point. */
export class KernelLoadError extends WosError {
  constructor(detail: string) {
    super(
      'KERNEL_LOAD_FAILED',
      `kernel could not be loaded: ${detail}; a kernel is an ES module whose default export (or \`run\` export) is a function`,
    );
  }
}

/** The sandbox itself could not start (iframe or workers blocked by the browser or a policy). */
export class SandboxUnavailableError extends WosError {
  constructor(detail: string) {
    super('SANDBOX_UNAVAILABLE', `the compute sandbox could not start: ${detail}`);
  }
}

/**
 * The sandbox's process died under the tasks running in it (most often a kernel that ran out
 * of memory: a worker's out-of-memory ends its whole process). The pool starts a new sandbox;
 * the task may be retried.
 */
export class SandboxCrashedError extends WosError {
  constructor(detail: string) {
    super('SANDBOX_CRASHED', `the compute sandbox crashed while this task ran: ${detail}`);
  }
}

const MAX_MESSAGE = 4096;
const MAX_STACK = 16_384;

type Failure = Extract<ItemReply, { t: 'err' }>;

/**
 * Checks a message from a worker (which runs foreign code) before the page uses it: `up`, or
 * `done` with at most `maxItems` well-formed item results.
 */
export function parseReply(data: unknown, maxItems: number): WorkerReply | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Partial<Record<string, unknown>>;
  if (m.t === 'up') return { t: 'up' };
  if (m.t !== 'done' || typeof m.id !== 'number' || !Number.isInteger(m.at)) return undefined;
  const { items, ms } = m;
  if (!Array.isArray(items) || items.length === 0 || items.length > maxItems) return undefined;
  const out: ItemReply[] = [];
  for (const item of items as unknown[]) {
    const r = parseItem(item);
    if (!r) return undefined;
    out.push(r);
  }
  const time = typeof ms === 'number' && ms >= 0 && ms < 1e9 ? ms : 0;
  return { t: 'done', id: m.id, at: m.at as number, items: out, ms: time };
}

function parseItem(data: unknown): ItemReply | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Partial<Record<string, unknown>>;
  if (m.t === 'ok') return { t: 'ok', output: m.output };
  if (m.t !== 'err' || typeof m.message !== 'string') return undefined;
  const kind = m.kind;
  if (kind !== 'kernel' && kind !== 'load' && kind !== 'violation' && kind !== 'clone') {
    return undefined;
  }
  const reply: Failure = { t: 'err', kind, message: m.message.slice(0, MAX_MESSAGE) };
  if (typeof m.stack === 'string') reply.stack = m.stack.slice(0, MAX_STACK);
  if (typeof m.api === 'string') reply.api = m.api.slice(0, 64);
  return reply;
}

export function failureError(f: Failure): WosError {
  switch (f.kind) {
    case 'violation':
      return new SandboxViolationError(f.api ?? 'a forbidden API');
    case 'load':
      return new KernelLoadError(f.message);
    case 'clone':
      return new KernelError(`its result cannot be sent back (${f.message})`, f.stack);
    case 'kernel':
      return new KernelError(f.message, f.stack);
  }
}

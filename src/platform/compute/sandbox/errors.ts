import { KernelError, SandboxViolationError } from '../../../core/compute/errors.ts';
import { WosError } from '../../../core/errors.ts';
import type { WorkerReply } from './protocol.ts';

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

type Failure = Extract<WorkerReply, { t: 'err' }>;

/** Checks a message from a worker (which runs foreign code) before the page uses it. */
export function parseReply(data: unknown): WorkerReply | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Partial<Record<string, unknown>>;
  if (m.t === 'up') return { t: 'up' };
  if (typeof m.id !== 'number') return undefined;
  if (m.t === 'ok') return { t: 'ok', id: m.id, output: m.output };
  if (m.t !== 'err' || typeof m.message !== 'string') return undefined;
  const kind = m.kind;
  if (kind !== 'kernel' && kind !== 'load' && kind !== 'violation' && kind !== 'clone') {
    return undefined;
  }
  const reply: Failure = { t: 'err', id: m.id, kind, message: m.message.slice(0, MAX_MESSAGE) };
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

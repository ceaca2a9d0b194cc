import { WosError } from '../errors.ts';

/** The kernel itself threw: its own message and stack come back to the caller. */
export class KernelError extends WosError {
  readonly kernelStack: string | undefined;
  readonly node: string | undefined;
  constructor(message: string, kernelStack?: string, node?: string) {
    super('KERNEL_ERROR', `kernel failed${node ? ` on ${node}` : ''}: ${message}`);
    this.kernelStack = kernelStack;
    this.node = node;
  }
}

/** The kernel ran past its time limit and its worker was terminated. */
export class KernelTimeoutError extends WosError {
  constructor(ms: number) {
    super(
      'KERNEL_TIMEOUT',
      `kernel ran past its ${ms} ms limit and was stopped; raise timeoutMs or split the work`,
    );
  }
}

/** The kernel tried something the sandbox forbids (network, storage, DOM). */
export class SandboxViolationError extends WosError {
  constructor(what: string) {
    super(
      'SANDBOX_VIOLATION',
      `sandbox: kernels may not use ${what}; pass data in and out through input and result`,
    );
  }
}

/** No node in the mesh can satisfy a `use(...)` request now. */
export class NoCapacityError extends WosError {
  constructor(what: string) {
    super('NO_CAPACITY', `no node can provide ${what} now; open more tabs or raise the donation`);
  }
}

import type { WosError } from '../core/errors.ts';
import type { NodeKind } from '../core/link.ts';
import type { MeshNode, NodeInfo } from '../core/mesh-node.ts';
import type { TransportStatus } from '../core/transport.ts';

/**
 * `window.wos`: the SDK surface. Applications declare what they need; they never deal with
 * peers, links or retries. More capabilities (compute, files, account) attach here.
 */
export interface WosEvents {
  nodes: NodeInfo[];
  coordinator: string | undefined;
  error: WosError;
  /** Signaling status: open channels keep working while `offline`. */
  status: TransportStatus;
}

export interface Wos {
  /** Resolves once this node has joined its mesh; rejects with a WosError if it cannot. */
  readonly ready: Promise<void>;
  readonly node: { readonly id: string; readonly kind: NodeKind };
  /** Every node of the mesh as this node sees it, this one included. */
  nodes(): NodeInfo[];
  coordinator(): string | undefined;
  readonly mesh: { readonly id: string; invite(): string };
  on<K extends keyof WosEvents>(event: K, handler: (value: WosEvents[K]) => void): () => void;
}

export type { NodeInfo };

export interface WosBinding {
  ready: Promise<MeshNode>;
  kind: NodeKind;
  invite(): string;
}

export function createWos(binding: WosBinding): Wos {
  let node: MeshNode | undefined;
  const pending: (() => void)[] = [];
  const ready = binding.ready.then((n) => {
    node = n;
    for (const f of pending.splice(0)) f();
  });
  // Subscriptions made before the node exists attach when it does.
  const on = <K extends keyof WosEvents>(
    event: K,
    handler: (v: WosEvents[K]) => void,
  ): (() => void) => {
    let off: (() => void) | undefined;
    let cancelled = false;
    const attach = (): void => {
      if (cancelled || !node) return;
      if (event === 'coordinator') {
        off = node.on('coordinator', (e) =>
          (handler as (v: string | undefined) => void)(e.coordinator),
        );
      } else {
        off = node.on(event as 'nodes', handler as (v: NodeInfo[]) => void);
      }
    };
    if (node) attach();
    else pending.push(attach);
    return () => {
      cancelled = true;
      off?.();
    };
  };
  return {
    ready,
    node: {
      get id() {
        return node?.id ?? '';
      },
      kind: binding.kind,
    },
    nodes: () => node?.nodes() ?? [],
    coordinator: () => node?.coordinator(),
    mesh: {
      get id() {
        return node?.meshId ?? '';
      },
      invite: () => binding.invite(),
    },
    on,
  };
}

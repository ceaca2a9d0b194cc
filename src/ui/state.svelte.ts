import type { NodeInfo, VersionMismatch } from '../core/mesh-node.ts';
import type { BrowserApp } from '../platform/browser-app.ts';

/** Live view state for the app, fed by SDK events. */
export class MeshState {
  nodes = $state<NodeInfo[]>([]);
  coordinator = $state<string | undefined>(undefined);
  status = $state<'joining' | 'online' | 'offline' | 'failed'>('joining');
  error = $state<string | undefined>(undefined);
  /** A peer this tab cannot link with for its WOS version; `outdated: 'self'` wins. */
  versionMismatch = $state<VersionMismatch | undefined>(undefined);
  selfId = $state('');
  inviteLink = $state('');
  donatedGiB = $state(1);
  cpuWorkers = $state(1);

  constructor(readonly app: BrowserApp) {
    const { wos } = app;
    this.inviteLink = wos.mesh.invite();
    wos.on('nodes', (n) => {
      this.nodes = n;
      this.coordinator = wos.coordinator();
    });
    wos.on('coordinator', (c) => (this.coordinator = c));
    wos.on('status', (st) => {
      this.status = st === 'online' ? 'online' : st === 'closed' ? 'failed' : 'offline';
    });
    wos.on('error', (e) => {
      // A personal mesh refusing this device (no, foreign or revoked certificate) says why.
      const admissionCode =
        e.code.startsWith('CERT_') || e.code.startsWith('INVITE_') || e.code === 'NOT_A_MEMBER';
      const refused = admissionCode && (e as { byPeer?: unknown }).byPeer === true;
      // So does a link that looks relayed (a signaling server in the middle) or cannot be bound
      // to its connection (link.ts, channel-binding.ts).
      const intercepted =
        e.code === 'CHANNEL_INTERCEPTED' || e.code === 'CHANNEL_BINDING_UNAVAILABLE';
      if (e.code === 'MESH_KEY_MISMATCH' || refused || intercepted) this.error = e.message;
    });
    wos.on('version', (m) => {
      // This tab being out of date is the actionable news: keep it over any older peer.
      if (m.outdated === 'self' || this.versionMismatch?.outdated !== 'self') {
        this.versionMismatch = m;
      }
    });
    void app.settings().then((st) => {
      this.donatedGiB = Math.round((st.donatedBytes / 1024 ** 3) * 10) / 10;
      this.cpuWorkers = st.cpuWorkers;
    });
    wos.ready.then(
      () => {
        this.selfId = wos.node.id;
        this.inviteLink = wos.mesh.invite();
        this.nodes = wos.nodes();
        this.coordinator = wos.coordinator();
        this.status = 'online';
      },
      (e: unknown) => {
        this.status = 'failed';
        this.error = e instanceof Error ? e.message : String(e);
      },
    );
  }

  async setDonatedGiB(gib: number): Promise<void> {
    this.donatedGiB = gib;
    await this.app.donate({ donatedBytes: gib * 1024 ** 3 });
  }

  async setCpuWorkers(n: number): Promise<void> {
    this.cpuWorkers = n;
    await this.app.donate({ cpuWorkers: n });
  }
}

import QRCode from 'qrcode';
import type { AccountSession } from '../core/account/account-session.ts';
import type { DeviceIdentity } from '../core/identity.ts';
import { pairAsHost, type HostPairing } from '../platform/account/browser-pairing.ts';
import { PERSONAL_ROUTE } from '../sdk/fragment.ts';

/**
 * Pairing screens' state. The new device (`GuestPairingState`, in the Account view while signed
 * out) shows a link and its QR code, then the words, then moves to the personal mesh. The
 * enrolled device (`HostPairingState`, the page a `#/pair/<key>` link opens) shows the same
 * words and who asks, and sends the account only when the user approves.
 */
export interface PairingProblem {
  code: string;
  message: string;
}

function problem(e: unknown): PairingProblem {
  const code = (e as { code?: unknown } | null)?.code;
  return {
    code: typeof code === 'string' ? code : 'ERROR',
    message: e instanceof Error ? e.message : String(e),
  };
}

export class GuestPairingState {
  link = $state<string | undefined>(undefined);
  qr = $state('');
  words = $state<string[] | undefined>(undefined);
  error = $state<PairingProblem | undefined>(undefined);
  done = $state(false);
  #cancel: (() => void) | undefined;

  async start(): Promise<void> {
    this.error = undefined;
    this.words = undefined;
    try {
      const p = await window.wos.account.pair();
      this.#cancel = p.cancel;
      this.link = p.link;
      void QRCode.toString(p.link, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' }).then(
        (s) => (this.qr = s),
      );
      void p.words.then((w) => (this.words = w));
      await p.done;
      this.done = true;
      location.hash = PERSONAL_ROUTE;
      location.reload();
    } catch (e) {
      this.error = problem(e);
      this.link = undefined;
    }
  }

  cancel(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }
}

export class HostPairingState {
  phase = $state<'connecting' | 'compare' | 'sending' | 'done' | 'rejected' | 'failed'>(
    'connecting',
  );
  words = $state<string[]>([]);
  device = $state<{ name: string; kind: string } | undefined>(undefined);
  handle = $state<string | null>(null);
  error = $state<PairingProblem | undefined>(undefined);
  #offer: HostPairing | undefined;

  async connect(session: AccountSession, identity: DeviceIdentity, key: string): Promise<void> {
    try {
      this.handle = session.current()?.handle ?? null;
      const offer = await pairAsHost(session, identity, key);
      this.#offer = offer;
      this.words = offer.words;
      this.device = { name: offer.device.name, kind: offer.device.kind };
      this.phase = 'compare';
    } catch (e) {
      this.error = problem(e);
      this.phase = 'failed';
    }
  }

  async answer(approve: boolean): Promise<void> {
    const offer = this.#offer;
    if (!offer || this.phase !== 'compare') return;
    this.phase = 'sending';
    try {
      if (approve) await offer.approve();
      else await offer.reject();
      this.phase = approve ? 'done' : 'rejected';
    } catch (e) {
      this.error = problem(e);
      this.phase = 'failed';
    } finally {
      offer.close();
    }
  }
}

import { ClosedError } from '../../../core/errors.ts';
import type { FrameEvent, FrameRequest } from './protocol.ts';
import { SandboxUnavailableError } from './errors.ts';
import { sandboxSrcdoc } from './frame-document.ts';

export interface SandboxFrameOptions {
  document: Document;
  /** Script text of the workers (classic scripts, started from a blob: URL). */
  workerSource: string;
  allowWasm: boolean;
  startTimeoutMs: number;
  onWorkerError(wid: number, message: string): void;
  /** The iframe reloaded (moved in the DOM, navigated): its workers are gone. */
  onLost(): void;
}

/**
 * The hidden opaque-origin iframe that owns the kernel workers. The page talks to its
 * bootstrap over one MessageChannel (control); each worker gets its own channel straight to
 * the page, so task messages never pass through the iframe's thread.
 */
export class SandboxFrame {
  /** Resolves once the bootstrap answered; rejects if it does not in time. */
  readonly ready: Promise<void>;
  private readonly iframe: HTMLIFrameElement;
  private readonly control: MessagePort;
  private closed = false;
  private abandon: (e: Error) => void = () => {};

  constructor(o: SandboxFrameOptions) {
    const iframe = o.document.createElement('iframe');
    iframe.setAttribute('sandbox', 'allow-scripts');
    iframe.setAttribute('aria-hidden', 'true');
    iframe.tabIndex = -1;
    iframe.title = 'WOS compute sandbox';
    iframe.style.cssText = 'display:none';
    iframe.srcdoc = sandboxSrcdoc(o.allowWasm);
    this.iframe = iframe;
    const channel = new MessageChannel();
    this.control = channel.port1;
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SandboxUnavailableError(`no answer within ${o.startTimeoutMs} ms`)),
        o.startTimeoutMs,
      );
      this.abandon = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      this.control.onmessage = (e: MessageEvent<FrameEvent>) => {
        if (e.data.t === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (e.data.t === 'worker-error') {
          o.onWorkerError(e.data.wid, e.data.message);
        }
      };
      let loads = 0;
      iframe.addEventListener('load', () => {
        if (loads++ === 0) iframe.contentWindow?.postMessage(null, '*', [channel.port2]);
        else if (!this.closed) o.onLost();
      });
    });
    // Queued on the port until the bootstrap takes it: ordered before every spawn.
    this.send({ t: 'init', workerSource: o.workerSource });
    (o.document.body ?? o.document.documentElement).append(iframe);
  }

  /** Starts worker `wid`; returns the page's end of its channel (usable at once). */
  spawn(wid: number, stubs: boolean): MessagePort {
    const channel = new MessageChannel();
    this.send({ t: 'spawn', wid, stubs }, [channel.port2]);
    return channel.port1;
  }

  kill(wid: number): void {
    this.send({ t: 'kill', wid });
  }

  /** Removes the iframe: every worker it owns ends with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abandon(new ClosedError('sandbox'));
    this.control.close();
    this.iframe.remove();
  }

  private send(m: FrameRequest, transfer: Transferable[] = []): void {
    if (!this.closed) this.control.postMessage(m, transfer);
  }
}

import type { FrameEvent, FrameRequest } from './protocol.ts';
import { SandboxUnavailableError } from './errors.ts';
import { sandboxSrcdoc } from './frame-document.ts';

export interface SandboxFrameOptions {
  document: Document;
  workerSource: Promise<string>;
  allowWasm: boolean;
  startTimeoutMs: number;
  onWorkerError(wid: number, message: string): void;
}

/**
 * The hidden opaque-origin iframe that owns the kernel workers. The page talks to its
 * bootstrap over one MessageChannel (control); each worker gets its own channel straight to
 * the page, so task messages never pass through the iframe's thread.
 */
export class SandboxFrame {
  /** Resolves once the bootstrap answered and holds the worker source. */
  readonly ready: Promise<void>;
  private readonly iframe: HTMLIFrameElement;
  private readonly control: MessagePort;
  private closed = false;

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
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SandboxUnavailableError(`no answer within ${o.startTimeoutMs} ms`)),
        o.startTimeoutMs,
      );
      this.control.onmessage = (e: MessageEvent<FrameEvent>) => {
        if (e.data.t === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (e.data.t === 'worker-error') {
          o.onWorkerError(e.data.wid, e.data.message);
        }
      };
      iframe.addEventListener(
        'load',
        () => iframe.contentWindow?.postMessage(null, '*', [channel.port2]),
        { once: true },
      );
    });
    (o.document.body ?? o.document.documentElement).append(iframe);
    this.ready = Promise.all([answered, o.workerSource]).then(([, workerSource]) => {
      if (this.closed) throw new SandboxUnavailableError('closed while starting');
      this.send({ t: 'init', workerSource });
    });
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
    this.control.close();
    this.iframe.remove();
  }

  private send(m: FrameRequest, transfer: Transferable[] = []): void {
    if (!this.closed) this.control.postMessage(m, transfer);
  }
}

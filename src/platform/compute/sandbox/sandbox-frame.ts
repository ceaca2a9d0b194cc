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
  /**
   * The sandbox is gone with its workers: its process crashed (a kernel ran out of memory) or
   * stopped answering, or the iframe reloaded (moved in the DOM).
   */
  onLost(reason: string): void;
}

/** While tasks run, the bootstrap is pinged this often; silence for LOST_MS means it is gone. */
const PING_MS = 1000;
const LOST_MS = 3000;

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
  private readonly onLost: (reason: string) => void;
  private abandon: (e: Error) => void = () => {};
  private pinger: ReturnType<typeof setInterval> | undefined;
  private lastPong = 0;
  private lastBeat = 0;

  constructor(o: SandboxFrameOptions) {
    this.onLost = o.onLost;
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
        if (e.data.t === 'pong') {
          this.lastPong = performance.now();
        } else if (e.data.t === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (e.data.t === 'worker-error') {
          o.onWorkerError(e.data.wid, e.data.message);
        }
      };
      let loads = 0;
      iframe.addEventListener('load', () => {
        if (loads++ === 0) iframe.contentWindow?.postMessage(null, '*', [channel.port2]);
        else if (!this.closed) this.lost('its iframe was reloaded (moved in the page?)');
      });
    });
    // Queued on the port until the bootstrap takes it: ordered before every spawn.
    this.send({ t: 'init', workerSource: o.workerSource });
    (o.document.body ?? o.document.documentElement).append(iframe);
  }

  /**
   * Watches the sandbox's liveness while `busy()` holds (tasks run); it stops by itself once
   * idle, so an idle sandbox sleeps.
   */
  watch(busy: () => boolean): void {
    if (this.pinger || this.closed) return;
    this.lastPong = this.lastBeat = performance.now();
    this.pinger = setInterval(() => (busy() ? this.beat() : this.unwatch()), PING_MS);
  }

  private unwatch(): void {
    clearInterval(this.pinger);
    this.pinger = undefined;
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

  private beat(): void {
    const now = performance.now();
    // The page itself was stalled (busy, or a throttled background tab): its pongs may still
    // wait in the queue, so this is no evidence against the sandbox.
    if (now - this.lastBeat > LOST_MS) this.lastPong = now;
    this.lastBeat = now;
    if (now - this.lastPong > LOST_MS) {
      return this.lost(`it stopped answering for ${LOST_MS} ms (did a kernel run out of memory?)`);
    }
    this.send({ t: 'ping' });
  }

  private lost(reason: string): void {
    this.unwatch();
    this.onLost(reason);
  }

  /** Removes the iframe: every worker it owns ends with it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    this.abandon(new ClosedError('sandbox'));
    this.control.close();
    this.iframe.remove();
  }

  private send(m: FrameRequest, transfer: Transferable[] = []): void {
    if (!this.closed) this.control.postMessage(m, transfer);
  }
}

import * as v from 'valibot';
import type { Bus } from './bus.ts';
import type { Clock } from './clock.ts';

/**
 * Measures bus throughput to a peer by sending bulk attachments and timing the acknowledged
 * bytes. Registered on every node so any peer can be measured.
 */
const CHUNK = 192 * 1024;

export function serveThroughputProbe(bus: Bus): void {
  bus.handle('probe.bulk', v.strictObject({}), (m) => ({ n: m.bin?.length ?? 0 }));
}

/** Sends `bytes` to `peer` in `window` concurrent requests; returns MB/s. */
export async function measureThroughput(
  bus: Bus,
  clock: Clock,
  peer: string,
  bytes = 4 * 1024 * 1024,
  window = 8,
): Promise<number> {
  const chunk = new Uint8Array(CHUNK);
  let sent = 0;
  const t0 = clock.now();
  const worker = async (): Promise<void> => {
    while (sent < bytes) {
      sent += CHUNK;
      await bus.request(peer, 'probe.bulk', {}, { bin: chunk, timeoutMs: 30_000 });
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  const secs = Math.max(1e-6, (clock.now() - t0) / 1000);
  return sent / 1e6 / secs;
}

import { systemClock } from '../../src/core/clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { transportContract } from '../support/transport-contract.ts';

transportContract('in-memory', async () => {
  const net = new MemoryNetwork(systemClock, { latencyMs: 1 });
  const a = net.transport('aaaaaaaaaaaaaaaa-aaaaaaaa');
  const b = net.transport('bbbbbbbbbbbbbbbb-bbbbbbbb');
  return {
    a,
    b,
    absentId: 'cccccccccccccccc-cccccccc',
    close: async () => {
      a.close();
      b.close();
    },
  };
});

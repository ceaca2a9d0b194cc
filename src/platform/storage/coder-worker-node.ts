import { parentPort } from 'node:worker_threads';
import { coderServer, type CoderRequest } from './coder-protocol.ts';

/** The coder worker thread in Node (see worker-coder-node.ts): the same handler as in tabs. */
const port = parentPort;
if (!port) throw new Error('coder-worker-node.ts runs as a worker thread');
const handle = coderServer((reply, transfer) =>
  port.postMessage(reply, transfer as Parameters<typeof port.postMessage>[1]),
);
port.on('message', (msg: CoderRequest) => handle(msg));

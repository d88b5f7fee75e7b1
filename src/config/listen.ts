import { availableParallelism } from 'node:os';

import { makeValidator } from 'envalid';

import { documented } from './documented.js';
import { hostPort, intRange } from './validators.js';

const workerCount = makeValidator<number>((input) => {
  if (input === 'auto') return availableParallelism();
  const value = Number(input);
  if (!/^\d+$/.test(input) || value < 1 || value > 256) throw new Error('expected "auto" or an integer from 1 to 256');
  return value;
});

/** Where and how the gRPC server listens. TLS is its own section (tls.ts). */
export const LISTEN_SETTINGS = {
  LISTEN_ADDRESS: documented(
    hostPort({
      default: { host: '127.0.0.1', port: 50051 },
      desc: '`host:port` of the gRPC server; port `0` picks a free port (the chosen address is logged)',
    }),
    '`127.0.0.1:50051`',
  ),
  MAX_RECEIVE_MESSAGE_BYTES: documented(
    intRange(1024, 64 * 1024 * 1024)({ default: 64 * 1024, desc: 'largest accepted request message' }),
    '`65536`',
  ),
  WORKERS: documented(
    workerCount({ default: 1, desc: 'worker processes sharing the port (`auto` = CPU cores)' }),
    '`1`',
  ),
};

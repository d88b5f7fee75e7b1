/**
 * The benchmark's baseline: the same grpc-js server (createServer: same options, reflection, health)
 * whose VerifyKey answers a constant, realistic-size response without doing anything. Supports WORKERS
 * like the real service (node:cluster, round-robin).
 */
import cluster from 'node:cluster';

import { status } from '@grpc/grpc-js';

import { type KeyAdminServer, type KeyVerifierServer, VerifyKeyResponse } from '../gen/apikeys/v1/api_keys.js';
import { bindServer, createServer, setServing } from '../src/transport/server.js';

const workers = Number(process.env.WORKERS ?? '1');
const [host = '127.0.0.1', port = '0'] = (process.env.LISTEN_ADDRESS ?? '127.0.0.1:0').split(':');

const RESPONSE = VerifyKeyResponse.fromPartial({
  valid: true,
  httpStatus: 200,
  message: 'API key is valid and working correctly',
  keyId: 'key_0123456789012345678901',
  keyName: 'Benchmark key',
  keyPrefix: 'tt_admin_P6jVGAam',
  scopes: ['comments:read', 'tickets:read'],
  expireTime: { seconds: 1_900_000_000, nanos: 0 },
  organizationId: 'org-bench',
  authenticateTime: { seconds: 1_800_000_000, nanos: 0 },
  createdByUserId: 'bench',
});

const keyAdmin = new Proxy({} as KeyAdminServer, {
  get: () => (_call: unknown, callback: (error: { code: number; details: string }) => void) =>
    callback({ code: status.UNIMPLEMENTED, details: 'no-op server' }),
});
const keyVerifier: KeyVerifierServer = {
  verifyKey: (_call, callback) =>
    callback(null, { ...RESPONSE, authenticateTime: { seconds: Math.floor(Date.now() / 1000), nanos: 0 } }),
};

let served = 0;
if (workers > 1 && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let ready = 0;
  cluster.on('message', (_worker, message: { port?: number }) => {
    if (message.port !== undefined && ++ready === workers)
      process.stdout.write(`${JSON.stringify({ address: `${host}:${message.port}` })}\n`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const wrapped: KeyVerifierServer = {
    verifyKey: (call, callback) => {
      served++;
      keyVerifier.verifyKey(call, callback);
    },
  };
  const built = createServer({ keyAdmin, keyVerifier: wrapped, maxReceiveMessageBytes: 64 * 1024 });
  const bound = await bindServer(built.server, host, Number(port));
  setServing(built.health, true);
  if (cluster.isWorker) process.send?.({ port: bound });
  else process.stdout.write(`${JSON.stringify({ address: `${host}:${bound}` })}\n`);
  process.on('message', (message: { type?: string; id?: number }) => {
    if (message.type === 'stats')
      process.send?.({
        type: 'stats',
        id: message.id,
        stats: [{ verifier: { valid: served }, cpu: { ...process.cpuUsage() } }],
      });
  });
  process.on('SIGTERM', () => process.exit(0));
}

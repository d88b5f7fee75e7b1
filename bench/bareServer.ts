/**
 * The benchmark's floor: a bare grpc-js server (same grpc-js, same server options as the service) whose
 * VerifyKey takes the request's bytes as they are (identity deserializer, no decoding) and answers fixed
 * bytes (BARE_RESPONSE_HEX: an encoded VerifyKeyResponse the bench got from the real service, so the
 * answer has the same size). Nothing else runs in it: no pipeline, no metrics, no health, no reflection.
 */
import { type handleUnaryCall, Server, ServerCredentials } from '@grpc/grpc-js';

import { serverOptions } from '../src/transport/server.js';
import { DEFAULT_TRANSPORT_LIMITS } from '../src/transport/TransportLimits.js';

const [host = '127.0.0.1', port = '0'] = (process.env.LISTEN_ADDRESS ?? '127.0.0.1:0').split(':');
const RESPONSE = Buffer.from(process.env.BARE_RESPONSE_HEX ?? '', 'hex');
const identity = (bytes: Buffer): Buffer => bytes;

let served = 0;
const verifyKey: handleUnaryCall<Buffer, Buffer> = (_call, callback) => {
  served++;
  callback(null, RESPONSE);
};

const server = new Server(serverOptions(64 * 1024, DEFAULT_TRANSPORT_LIMITS));
server.addService(
  {
    verifyKey: {
      path: '/apikeys.v1.KeyVerifier/VerifyKey',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  { verifyKey },
);
const bound = await new Promise<number>((resolve, reject) =>
  server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, boundPort) =>
    error === null ? resolve(boundPort) : reject(error),
  ),
);
process.stdout.write(`${JSON.stringify({ address: `${host}:${bound}` })}\n`);
process.on('message', (message: { type?: string; id?: number }) => {
  if (message.type === 'stats')
    process.send?.({
      type: 'stats',
      id: message.id,
      stats: [{ verifier: { valid: served }, cpu: { ...process.cpuUsage() }, memory: process.memoryUsage() }],
    });
});
process.on('SIGTERM', () => process.exit(0));

import { Server, ServerCredentials } from '@grpc/grpc-js';
import { expect, it } from 'vitest';

import { HandshakeBoundListener } from '../../src/transport/HandshakeBoundListener.js';

it('reports an error of the listening socket (EMFILE on accept) instead of ending the process', async () => {
  const errors: string[] = [];
  const listener = new HandshakeBoundListener(new Server(), ServerCredentials.createInsecure(), {
    timeoutMs: 1000,
    onError: (error) => errors.push(error.message),
  });
  await listener.listen('127.0.0.1', 0);
  // What Node's net server emits when accept() fails; without a handler, emit() throws (the process ends).
  const socket = (listener as unknown as { listener: NodeJS.EventEmitter }).listener;
  expect(() => socket.emit('error', new Error('accept EMFILE'))).not.toThrow();
  expect(errors).toEqual(['accept EMFILE']);
  listener.close();
});

it('refuses to start when grpc-js no longer keeps its HTTP/2 servers where the SETTINGS bound looks', () => {
  const server = new Server();
  // What a grpc-js version that renamed or dropped the private Map looks like to createSessionWatchingInjector.
  Reflect.deleteProperty(server, 'http2Servers');
  expect(() => new HandshakeBoundListener(server, ServerCredentials.createInsecure(), { timeoutMs: 1000 })).toThrow(
    /no longer keeps its HTTP\/2 servers in Server#http2Servers/,
  );
});

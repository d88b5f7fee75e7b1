import { Metadata } from '@grpc/grpc-js';
import pino, { type Logger } from 'pino';

import type { Next } from '../../../src/transport/pipeline/Middleware.js';
import { type IncomingCall, RpcCall, type RpcMethod } from '../../../src/transport/pipeline/RpcCall.js';

/** What a fake call may differ in. */
export interface FakeCallOptions {
  readonly request?: unknown;
  readonly deadline?: Date | number;
  readonly metadata?: Record<string, string | Buffer>;
  readonly successLogLevel?: 'info' | 'debug';
  readonly path?: string;
}

/** A grpc-js call as the pipeline sees it, without a server. */
export function fakeIncomingCall(options: FakeCallOptions = {}): IncomingCall {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  return {
    request: options.request ?? {},
    metadata,
    cancelled: false,
    getPeer: () => 'ipv4:127.0.0.1:50000',
    getDeadline: () => options.deadline ?? Infinity,
    getAuthContext: () => ({}),
    getPath: () => options.path ?? '/test.v1.Echo/Echo',
    getHost: () => '127.0.0.1',
    sendMetadata: () => undefined,
    getMetricsRecorder: () => {
      throw new Error('not used');
    },
  } as unknown as IncomingCall;
}

/** An RpcCall of a test method whose handler is never reached (steps are tested with their own `next`). */
export function fakeCall(options: FakeCallOptions = {}): RpcCall {
  const method: RpcMethod = {
    path: options.path ?? '/test.v1.Echo/Echo',
    successLogLevel: options.successLogLevel ?? 'info',
    invoke: () => {
      throw new Error('the handler is not part of a step test');
    },
  };
  return new RpcCall(method, fakeIncomingCall(options));
}

/** A `next` that records how often it ran and answers as told. */
export function fakeNext(answer: (call: RpcCall) => unknown = () => 'response'): Next & { calls: RpcCall[] } {
  const calls: RpcCall[] = [];
  return Object.assign(
    (call: RpcCall) => {
      calls.push(call);
      return answer(call);
    },
    { calls },
  );
}

/** A pino logger writing parsed lines into an array. */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

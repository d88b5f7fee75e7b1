import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  status,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { CallerRejectedError } from '../../../src/transport/CallerRejectedError.js';
import { createCallPipeline } from '../../../src/transport/pipeline/createCallPipeline.js';
import type { ResponseStream } from '../../../src/transport/pipeline/ResponseStream.js';
import { withTolerantDecoding } from '../../../src/transport/tolerantDecoding.js';
import { grpcFrame, RawHttp2 } from '../../helpers/rawClient.js';
import { memoryLogger } from './fakeCall.js';

/** A test-only server-streaming method: `count` responses, then optionally a failure or a wait for cancel. */
interface WatchRequest {
  readonly count: number;
  readonly then?: 'fail' | 'wait';
}
interface WatchResponse {
  readonly sequence: number;
}

const PATH = '/test.v1.Watcher/Watch';
const toJson = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const fromJson = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8')) as unknown;
const identity = (bytes: Buffer): Buffer => bytes;

const WATCHER: ServiceDefinition = {
  watch: {
    path: PATH,
    requestStream: false,
    responseStream: true,
    requestSerialize: toJson,
    requestDeserialize: fromJson,
    responseSerialize: toJson,
    responseDeserialize: fromJson,
  },
};

/** How a streaming call ended, as its client saw it. */
interface Received {
  readonly messages: WatchResponse[];
  readonly code: status;
  readonly details: string;
}

describe('a server-streaming method built through the call pipeline (real grpc-js server)', () => {
  const { logger, lines } = memoryLogger();
  const observed: string[] = [];
  const handled: { request: WatchRequest; caller: string; responses: ResponseStream<WatchResponse> }[] = [];
  let server: Server;
  let client: Client;
  let address: string;

  beforeAll(async () => {
    const pipeline = createCallPipeline({
      logger,
      authenticate: (call) => {
        if (call.metadata.get('authorization')[0] !== 'Bearer ok') {
          throw new CallerRejectedError('UNAUTHENTICATED', 'caller authentication required');
        }
        return { caller: 'watcher-client' };
      },
      observe: (method, code) => observed.push(`${method} ${code}`),
    });
    server = new Server();
    server.addService(withTolerantDecoding(WATCHER), {
      watch: pipeline.serverStreaming<WatchRequest, WatchResponse>(PATH, async (request, context, responses) => {
        handled.push({ request, caller: context.caller, responses });
        for (let sequence = 1; sequence <= request.count; sequence++) responses.write({ sequence });
        if (request.then === 'fail') throw new Error('the event source broke');
        if (request.then === 'wait') {
          await new Promise((resolve) => responses.signal.addEventListener('abort', resolve, { once: true }));
          responses.write({ sequence: -1 });
        }
      }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      ),
    );
    address = `127.0.0.1:${port}`;
    client = new Client(address, credentials.createInsecure());
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  beforeEach(() => {
    lines.length = 0;
    observed.length = 0;
    handled.length = 0;
  });

  /** Calls Watch with raw request bytes; resolves once the call ended (`cancelAfter`: cancel after n messages). */
  function watch(body: Buffer, options: { token?: string; cancelAfter?: number } = {}): Promise<Received> {
    const metadata = new Metadata();
    if (options.token !== undefined) metadata.set('authorization', options.token);
    const messages: WatchResponse[] = [];
    return new Promise((resolve) => {
      const call = client.makeServerStreamRequest(PATH, identity, fromJson, body, metadata, {});
      call.on('data', (message: WatchResponse) => {
        messages.push(message);
        if (messages.length === options.cancelAfter) call.cancel();
      });
      call.on('error', () => undefined);
      call.on('status', ({ code, details }: { code: status; details: string }) => resolve({ messages, code, details }));
    });
  }

  /** Waits until the server has written its log line (the server's end may follow the client's). */
  async function serverLog(): Promise<Record<string, unknown>[]> {
    for (let attempt = 0; attempt < 100 && lines.length === 0; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return lines;
  }

  it('streams the responses, ends OK, and is logged and counted once', async () => {
    const received = await watch(toJson({ count: 3 }), { token: 'Bearer ok' });
    expect(received).toEqual({
      messages: [{ sequence: 1 }, { sequence: 2 }, { sequence: 3 }],
      code: status.OK,
      details: 'OK',
    });
    expect(handled.map(({ caller }) => caller)).toEqual(['watcher-client']);
    expect(await serverLog()).toMatchObject([{ msg: 'rpc', method: PATH, status: 'OK', caller: 'watcher-client' }]);
    expect(observed).toEqual([`${PATH} OK`]);
  });

  it('ends with INTERNAL after the responses already sent when the handler throws, logging the error once', async () => {
    const received = await watch(toJson({ count: 2, then: 'fail' }), { token: 'Bearer ok' });
    expect(received).toEqual({
      messages: [{ sequence: 1 }, { sequence: 2 }],
      code: status.INTERNAL,
      details: 'internal error',
    });
    const logged = await serverLog();
    expect(logged).toMatchObject([{ msg: 'rpc failed', status: 'INTERNAL' }]);
    expect(logged[0]?.err).toMatchObject({ message: 'the event source broke' });
    expect(observed).toEqual([`${PATH} INTERNAL`]);
  });

  it('refuses an unauthenticated caller before the handler runs: no response is written', async () => {
    const received = await watch(toJson({ count: 3 }));
    expect(received).toMatchObject({ messages: [], code: status.UNAUTHENTICATED });
    expect(handled).toEqual([]);
    expect(await serverLog()).toMatchObject([{ msg: 'caller rejected', status: 'UNAUTHENTICATED' }]);
  });

  it('answers undecodable bytes with INVALID_ARGUMENT naming the expected type, after authentication', async () => {
    const garbage = Buffer.from([0xff, 0x00, 0x7b]);
    const authenticated = await watch(garbage, { token: 'Bearer ok' });
    expect(authenticated.code).toBe(status.INVALID_ARGUMENT);
    expect(authenticated.details).toContain('test.v1.WatchRequest');
    expect((await watch(garbage)).code).toBe(status.UNAUTHENTICATED);
    expect(handled).toEqual([]);
  });

  it('refuses a call that arrives with its deadline already passed: nothing runs, nothing is written', async () => {
    const http2 = new RawHttp2(address);
    try {
      const answer = await http2.request(PATH, grpcFrame(toJson({ count: 3 })), {
        'grpc-timeout': '0n',
        authorization: 'Bearer ok',
      });
      expect(answer.grpcStatus).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      http2.close();
    }
    expect(handled).toEqual([]);
    expect(await serverLog()).toMatchObject([{ status: 'DEADLINE_EXCEEDED' }]);
  });

  it('tells the handler when the caller cancels, drops later writes, and logs the call once as CANCELLED', async () => {
    const received = await watch(toJson({ count: 2, then: 'wait' }), { token: 'Bearer ok', cancelAfter: 2 });
    expect(received).toMatchObject({ messages: [{ sequence: 1 }, { sequence: 2 }], code: status.CANCELLED });
    expect(await serverLog()).toMatchObject([{ status: 'CANCELLED' }]);
    const { responses } = handled[0]!;
    expect(responses.signal.aborted).toBe(true);
    expect(responses.open).toBe(false);
    expect(responses.write({ sequence: 99 })).toBe(false);
    expect(observed).toEqual([`${PATH} CANCELLED`]);
  });
});

import { connect } from 'node:http2';

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { type ClientDuplexStream, Client, credentials, Metadata, Server, ServerCredentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { addReflectionService } from '../../src/transport/reflection/addReflectionService.js';
import type { DescriptorIndex } from '../../src/transport/reflection/DescriptorIndex.js';
import { loadDescriptorIndex } from '../../src/transport/server.js';

const index = loadDescriptorIndex();
const REQUEST = index.message('grpc.reflection.v1.ServerReflectionRequest');
const RESPONSE = index.message('grpc.reflection.v1.ServerReflectionResponse');

interface Answer {
  validHost: string;
  originalRequest?: { host: string; messageRequest: { case: string; value: unknown } };
  messageResponse: { case: string; value: { fileDescriptorProto?: Uint8Array[] } };
}

type Stream = ClientDuplexStream<Record<string, unknown>, Answer>;

function fileNames(answer: Answer): string[] {
  return (answer.messageResponse.value.fileDescriptorProto ?? []).map(
    (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
  );
}

/** A reflection server answering from `source` (counted by the caller) on 127.0.0.1:0. */
async function startReflectionServer(source: DescriptorIndex): Promise<{ address: string; server: Server }> {
  const server = new Server();
  addReflectionService(server, source, ['apikeys.v1.KeyAdmin']);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error === null ? resolve(bound) : reject(error),
    ),
  );
  return { address: `127.0.0.1:${port}`, server };
}

function openStream(client: Client): Stream {
  return client.makeBidiStreamRequest(
    '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
    (request: Record<string, unknown>) => Buffer.from(toBinary(REQUEST, create(REQUEST, request))),
    (bytes: Buffer) => fromBinary(RESPONSE, bytes) as unknown as Answer,
    new Metadata(),
  );
}

function symbolRequest(symbol: string, host = '') {
  return { host, messageRequest: { case: 'fileContainingSymbol', value: symbol } };
}

describe('one reflection stream', () => {
  let answered = 0;
  let started: { address: string; server: Server };
  let client: Client;
  beforeAll(async () => {
    // Counts the requests the server has answered, to see when it stops reading.
    const counting = new Proxy(index, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (property !== 'fileContainingSymbol' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          answered++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    started = await startReflectionServer(counting);
    client = new Client(started.address, credentials.createInsecure());
  });
  afterAll(() => {
    client.close();
    started.server.forceShutdown();
  });

  it('echoes the host and the original request in every answer', async () => {
    const stream = openStream(client);
    const answer = await new Promise<Answer>((resolve) => {
      stream.once('data', resolve);
      stream.write(symbolRequest('apikeys.v1.KeyAdmin', 'apikeys.internal:50051'));
    });
    stream.end();
    expect(answer.validHost).toBe('apikeys.internal:50051');
    expect(answer.originalRequest).toMatchObject({
      host: 'apikeys.internal:50051',
      messageRequest: { case: 'fileContainingSymbol', value: 'apikeys.v1.KeyAdmin' },
    });
  });

  it('sends each import once per stream, and always the file asked for', async () => {
    const stream = openStream(client);
    const answers: Answer[] = [];
    const done = new Promise<void>((resolve) =>
      stream.on('data', (answer: Answer) => {
        answers.push(answer);
        if (answers.length === 3) resolve();
      }),
    );
    stream.write(symbolRequest('apikeys.v1.KeyAdmin'));
    stream.write(symbolRequest('apikeys.v1.KeyVerifier'));
    stream.write({ messageRequest: { case: 'fileByFilename', value: 'google/protobuf/timestamp.proto' } });
    await done;
    stream.end();
    expect(fileNames(answers[0]!)).toEqual(
      expect.arrayContaining(['apikeys/v1/api_keys.proto', 'google/protobuf/timestamp.proto']),
    );
    expect(fileNames(answers[1]!)).toEqual(['apikeys/v1/api_keys.proto']);
    expect(fileNames(answers[2]!)).toEqual(['google/protobuf/timestamp.proto']);
  });

  it('stops reading requests while the client reads no answers, and answers all of them once it does', async () => {
    // Raw HTTP/2, because a grpc-js client keeps reading (and buffering) whatever the application does.
    const session = connect(`http://${started.address}`);
    const stream = session.request({
      ':method': 'POST',
      ':path': '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.pause();
    const message = Buffer.from(toBinary(REQUEST, create(REQUEST, symbolRequest('apikeys.v1.KeyAdmin'))));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
    frame.writeUInt32BE(message.length, 1);
    const total = 3000;
    answered = 0;
    stream.write(Buffer.concat(Array.from({ length: total }, () => frame)));
    // Nothing reads the answers yet: flow control fills up and the server must stop taking requests.
    let previous = -1;
    while (previous !== answered) {
      previous = answered;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThan(total);
    stream.on('data', () => undefined);
    stream.resume();
    while (answered < total) await new Promise((resolve) => setTimeout(resolve, 50));
    stream.end();
    await new Promise((resolve) => stream.on('close', resolve));
    session.close();
    expect(answered).toBe(total);
  });
});

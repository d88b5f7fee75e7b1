import { connect, constants as http2, type ClientHttp2Session } from 'node:http2';

import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { Client, credentials, Metadata, status } from '@grpc/grpc-js';

/** How a raw call ended: the gRPC status, its details, and the response bytes when it succeeded. */
export interface RawOutcome {
  readonly code: status;
  readonly details: string;
  readonly response?: Buffer;
}

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * A grpc-js client that sends and receives protobuf bytes as they are (identity serializer), so tests
 * can put on the wire what no generated client would produce: invalid UTF-8, unknown fields, wrong
 * wire types, random bytes. Every call resolves with its status; none rejects.
 */
export class RawClient {
  private readonly client: Client;

  constructor(address: string) {
    // No client-side size limits: what the server accepts is what is being tested.
    this.client = new Client(address, credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
      'grpc.max_receive_message_length': -1,
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  /** Sends `body` as the one request message of the unary method `path` (`/package.Service/Method`). */
  call(path: string, body: Uint8Array, options: { deadline?: number; metadata?: Metadata } = {}): Promise<RawOutcome> {
    return new Promise((resolve) => {
      this.client.makeUnaryRequest<Buffer, Buffer>(
        path,
        identity,
        identity,
        Buffer.from(body),
        options.metadata ?? new Metadata(),
        options.deadline === undefined ? {} : { deadline: options.deadline },
        (error, response) => {
          if (error === null) resolve({ code: status.OK, details: '', ...(response ? { response } : {}) });
          else resolve({ code: error.code, details: error.details });
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** What a raw HTTP/2 exchange ended with; `grpcStatus` is undefined when the server sent none. */
export interface Http2Outcome {
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  readonly httpStatus: number | undefined;
  /** The stream ended by RST_STREAM or a session error instead of a gRPC status. */
  readonly reset: boolean;
}

/**
 * Speaks gRPC over a plain HTTP/2 session, below grpc-js: the test writes the exact DATA bytes (length
 * prefix included, so it may lie) and the exact headers (e.g. `grpc-timeout: 0n`, already expired).
 */
export class RawHttp2 {
  private readonly session: ClientHttp2Session;

  constructor(address: string) {
    this.session = connect(`http://${address}`);
    this.session.on('error', () => undefined);
  }

  /** One request on a new stream: headers, then `data` (already framed), then end of stream. */
  request(
    path: string,
    data: Uint8Array,
    headers: Record<string, string> = {},
    timeoutMs = 10_000,
  ): Promise<Http2Outcome> {
    return this.exchange(path, data, headers, timeoutMs, true);
  }

  /**
   * Like `request`, but the stream is never ended: headers, then `data` (e.g. part of a message), then
   * nothing. Resolves when the server sends a gRPC status (the client then cancels the stream), or with
   * `reset` after `timeoutMs` (the test's safety margin).
   */
  requestWithoutEnd(
    path: string,
    data: Uint8Array,
    headers: Record<string, string> = {},
    timeoutMs = 10_000,
  ): Promise<Http2Outcome> {
    return this.exchange(path, data, headers, timeoutMs, false);
  }

  private exchange(
    path: string,
    data: Uint8Array,
    headers: Record<string, string>,
    timeoutMs: number,
    endStream: boolean,
  ): Promise<Http2Outcome> {
    return new Promise((resolve) => {
      let httpStatus: number | undefined;
      let grpcStatus: number | undefined;
      let grpcMessage = '';
      let settled = false;
      const read = (fields: Record<string, unknown>): void => {
        if (fields['grpc-status'] !== undefined) grpcStatus = Number(fields['grpc-status']);
        if (typeof fields['grpc-message'] === 'string') grpcMessage = decodeURIComponent(fields['grpc-message']);
      };
      const stream = this.session.request({
        [http2.HTTP2_HEADER_METHOD]: 'POST',
        [http2.HTTP2_HEADER_PATH]: path,
        [http2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      const finish = (reset: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ grpcStatus, grpcMessage, httpStatus, reset: reset && grpcStatus === undefined });
      };
      const timer = setTimeout(() => {
        stream.close(http2.NGHTTP2_CANCEL);
        finish(true);
      }, timeoutMs);
      // A stream the client never ends closes only when the client closes it: done at the status.
      const readStatus = (fields: Record<string, unknown>): void => {
        read(fields);
        if (endStream || grpcStatus === undefined) return;
        finish(false);
        stream.close(http2.NGHTTP2_CANCEL);
      };
      stream.on('response', (fields) => {
        httpStatus = Number(fields[http2.HTTP2_HEADER_STATUS]);
        readStatus(fields);
      });
      stream.on('trailers', readStatus);
      stream.on('data', () => undefined);
      stream.on('error', () => finish(true));
      stream.on('close', () => finish(stream.rstCode !== http2.NGHTTP2_NO_ERROR));
      if (endStream) stream.end(Buffer.from(data));
      else stream.write(Buffer.from(data));
    });
  }

  close(): void {
    this.session.close();
  }
}

/** Frames one message as gRPC does: a zero compression flag, the big-endian length, the bytes. */
export function grpcFrame(
  message: Uint8Array,
  options: { compressed?: boolean; declaredLength?: number } = {},
): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(options.compressed === true ? 1 : 0, 0);
  header.writeUInt32BE(options.declaredLength ?? message.length, 1);
  return Buffer.concat([header, message]);
}

/**
 * One field of a hand-built protobuf message: text and bytes are length-delimited (bytes may be invalid
 * UTF-8 where the schema says string), numbers int32 varints, bigints int64 varints, arrays nested
 * messages. Appended to a valid encoding, a field replaces a singular field and adds to a repeated one.
 */
export type RawField = readonly [field: number, value: string | Uint8Array | number | bigint | readonly RawField[]];

/** Encodes hand-built fields, in order, exactly as given. */
export function encodeFields(fields: readonly RawField[]): Uint8Array {
  const writer = new BinaryWriter();
  writeFields(writer, fields);
  return writer.finish();
}

function writeFields(writer: BinaryWriter, fields: readonly RawField[]): void {
  for (const [field, value] of fields) {
    if (typeof value === 'string') writer.tag(field, WireType.LengthDelimited).string(value);
    else if (value instanceof Uint8Array) writer.tag(field, WireType.LengthDelimited).bytes(value);
    else if (typeof value === 'number') writer.tag(field, WireType.Varint).int32(value);
    else if (typeof value === 'bigint') writer.tag(field, WireType.Varint).int64(value);
    else {
      writer.tag(field, WireType.LengthDelimited).fork();
      writeFields(writer, value);
      writer.join();
    }
  }
}

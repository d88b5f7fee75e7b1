import type http2 from 'node:http2';
import { constants, type ServerHttp2Stream } from 'node:http2';

/**
 * Ends `stream` with RST_STREAM(NO_ERROR) once the server has sent its whole response (status included)
 * while the client is still sending, as RFC 9113 §8.1 allows ("a server can send a complete response
 * prior to the client sending an entire request … [and] request that the client abort transmission of a
 * request without error by sending a RST_STREAM with an error code of NO_ERROR"). gRPC C-core does the
 * same.
 *
 * Without it, a call the server refused before reading (an unauthenticated caller, see
 * authenticateBeforeReading) stays half-open for as long as the client never ends its side: it keeps
 * its place among the connection's GRPC_MAX_CONCURRENT_STREAMS and its memory, and a client holding
 * 100 such streams on each of many connections pins them all. A client that already half-closed (every
 * unary call that was answered normally) is left alone: its stream closes by itself.
 */
export function resetAnsweredStream(stream: ServerHttp2Stream): void {
  stream.once('finish', () => {
    if (responseComplete(stream)) resetIfClientSending(stream);
    // Trailers follow the body: grpc-js sends them from its own 'wantTrailers' listener, which it
    // registered before ending the stream, so it has run by the next tick.
    else stream.once('wantTrailers', () => process.nextTick(() => resetIfClientSending(stream)));
  });
}

/** Whether the status has been sent: as trailers, or as a trailers-only response (its headers carry it). */
function responseComplete(stream: ServerHttp2Stream): boolean {
  // Node's types say sentHeaders is always there; it is undefined until the stream responds.
  const headers = stream.sentHeaders as http2.OutgoingHttpHeaders | undefined;
  return stream.sentTrailers !== undefined || headers?.['grpc-status'] !== undefined;
}

function resetIfClientSending(stream: ServerHttp2Stream): void {
  if (stream.closed || stream.destroyed || !responseComplete(stream)) return;
  if (stream.state.remoteClose === 1) return; // the client is done; the stream closes by itself
  // Node sends what is still queued (the trailers) before the RST_STREAM.
  stream.close(constants.NGHTTP2_NO_ERROR);
}

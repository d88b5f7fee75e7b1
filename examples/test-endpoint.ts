/**
 * Example: the product's `POST /v1/test` endpoint ("is my API key working?") as a plain node:http
 * service that asks api-key-service through the client library. Run it against a running service:
 *
 *   APIKEYS_ADDRESS=127.0.0.1:50051 PORT=8080 npx tsx examples/test-endpoint.ts
 *   curl -X POST http://127.0.0.1:8080/v1/test -H "Authorization: Bearer $API_KEY"
 *
 * A service outside this repository imports the same functions from the package:
 * `import { createVerifierClient, verifyHttpRequest } from 'api-key-service'`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';

import { createVerifierClient, type VerifierClient, verifyHttpRequest } from '../src/index.js';

/** Settings of the example service. */
export interface TestEndpointOptions {
  readonly verifier: VerifierClient;
  /**
   * The end client's IP. Default: the TCP peer. Behind a load balancer or proxy, read the address it
   * forwards (e.g. the last X-Forwarded-For entry your own proxy appended), never a header a client
   * could set itself: the key's IP allowlist is only as good as this address.
   */
  readonly clientIp?: (request: IncomingMessage) => string | undefined;
  /** Where the cause of a 500/503 goes (the client only sees a generic message). Default: stderr. */
  readonly log?: (line: string) => void;
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  response.end(`${JSON.stringify(body)}\n`);
}

function log(options: TestEndpointOptions, line: string): void {
  if (options.log !== undefined) options.log(line);
  else process.stderr.write(`test-endpoint: ${line}\n`);
}

async function handle(options: TestEndpointOptions, request: IncomingMessage, response: ServerResponse) {
  // The endpoint reads no body; drain it so the connection can be reused.
  request.resume();
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path !== '/v1/test') {
    sendJson(response, 404, { success: false, error: 'not_found', message: `no such endpoint: ${path}` });
    return;
  }
  // The product documents POST; its Python example uses GET, so both are answered.
  if (request.method !== 'POST' && request.method !== 'GET') {
    sendJson(
      response,
      405,
      { success: false, error: 'method_not_allowed', message: 'use POST /v1/test' },
      { allow: 'POST, GET' },
    );
    return;
  }
  const verdict = await verifyHttpRequest(options.verifier, {
    authorizationHeader: request.headers.authorization,
    clientIp: (options.clientIp ?? ((req) => req.socket.remoteAddress))(request),
    requiredScopes: [],
  });
  if (verdict.status !== 200 && verdict.error !== undefined) {
    // The client sees a generic message; the operator sees why.
    log(options, `VerifyKey failed: ${verdict.error.message}`);
  }
  sendJson(response, verdict.status, verdict.body, { ...verdict.headers });
}

/** The example HTTP service (not listening yet). */
export function createTestEndpointServer(options: TestEndpointOptions): Server {
  return createServer((request, response) => {
    handle(options, request, response).catch((error: unknown) => {
      log(options, (error as Error).stack ?? String(error));
      if (!response.headersSent)
        sendJson(response, 500, { success: false, error: 'internal', message: 'internal error' });
      else response.destroy();
    });
  });
}

/** Started directly: listen on $PORT (default 8080) and verify against $APIKEYS_ADDRESS. */
async function main(): Promise<void> {
  const verifier = createVerifierClient({
    address: process.env.APIKEYS_ADDRESS ?? '127.0.0.1:50051',
    ...(process.env.APIKEYS_TOKEN === undefined ? {} : { token: process.env.APIKEYS_TOKEN }),
  });
  const server = createTestEndpointServer({ verifier });
  const port = Number(process.env.PORT ?? '8080');
  await new Promise<void>((resolve) => server.listen(port, process.env.HOST ?? '127.0.0.1', resolve));
  process.stdout.write(`test endpoint listening on ${JSON.stringify(server.address())}\n`);
  const stop = (): void => {
    server.close();
    verifier.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main();

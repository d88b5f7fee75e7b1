import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';

import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { KeyAdminServer } from '../../gen/apikeys/v1/api_keys.js';
import type { KeyVerifier } from '../../src/domain/KeyVerifier.js';
import { createKeyVerifierService } from '../../src/transport/createKeyVerifierService.js';
import { bindServer, createServer } from '../../src/transport/server.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { createClients, grpcError } from '../helpers/grpcClients.js';
import { createCredentialedClients, createTestCertificates, tlsCredentials } from '../helpers/certificates.js';
import { checkHealth } from '../helpers/healthClient.js';
import { startTestServer, type TestServer } from '../helpers/startTestServer.js';

/** The /metrics text of a test server (its METRICS_ADDRESS, as it logged it). */
async function metricsOf(server: TestServer): Promise<string> {
  const metricsAddress = /"metricsAddress":"([^"]+)"/.exec(server.logs.join(''))?.[1];
  return (await fetch(`http://${metricsAddress ?? 'none'}/metrics`)).text();
}

/** The SETTINGS the server sent on a fresh HTTP/2 connection. */
async function serverSettings(address: string): Promise<http2.Settings> {
  const session = http2.connect(`http://${address}`);
  try {
    return await new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
  } finally {
    session.destroy();
  }
}

/** Resolves 'closed' when the server ends `session`, or 'still open' after `safetyMs` (a failure). */
function closedByServer(session: http2.ClientHttp2Session, safetyMs: number): Promise<'closed' | 'still open'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still open'), safetyMs);
    const closed = (): void => {
      clearTimeout(timer);
      resolve('closed');
    };
    session.once('goaway', closed);
    session.once('close', closed);
    session.on('error', () => undefined);
  });
}

describeEachDatabase('transport limits', (kind) => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('advertises SETTINGS_MAX_CONCURRENT_STREAMS = 100 by default, not 2^32-1', async () => {
    server = await startTestServer(kind);
    expect((await serverSettings(server.address)).maxConcurrentStreams).toBe(100);
  });

  it('advertises SETTINGS_MAX_CONCURRENT_STREAMS as GRPC_MAX_CONCURRENT_STREAMS says', async () => {
    server = await startTestServer(kind, { GRPC_MAX_CONCURRENT_STREAMS: '7' });
    expect((await serverSettings(server.address)).maxConcurrentStreams).toBe(7);
  });

  it('closes a connection that makes no call once GRPC_MAX_CONNECTION_IDLE_MS has passed', async () => {
    server = await startTestServer(kind, { GRPC_MAX_CONNECTION_IDLE_MS: '1000' });
    const session = http2.connect(`http://${server.address}`);
    try {
      // The safety margin is generous (no speed assertion): without the limit the connection stays open.
      expect(await closedByServer(session, 10_000)).toBe('closed');
    } finally {
      session.destroy();
    }
  });
});

/** Resolves 'closed' when the server closes `socket`, or 'still open' after `safetyMs` (a failure). */
function socketClosedByServer(socket: net.Socket, safetyMs: number): Promise<'closed' | 'still open'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('still open'), safetyMs);
    socket.on('error', () => undefined);
    socket.resume(); // reads (and drops) the server's SETTINGS, so the end is seen
    socket.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

describe('the handshake bound [sqlite]', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('closes a TCP connection that never sends the HTTP/2 preface within HANDSHAKE_TIMEOUT_MS, and counts it', async () => {
    server = await startTestServer('sqlite', { HANDSHAKE_TIMEOUT_MS: '500' });
    const [host, port] = server.address.split(':');
    const silent = net.connect(Number(port), host);
    const partial = net.connect(Number(port), host, () => partial.write('PRI * HTTP/2.0'));
    // Generous safety margins, no speed assertion: without the bound both stay open.
    expect(await Promise.all([socketClosedByServer(silent, 10_000), socketClosedByServer(partial, 10_000)])).toEqual([
      'closed',
      'closed',
    ]);
    const metrics = await metricsOf(server);
    expect(metrics).toMatch(/apikeys_transport_limit_events_total\{reason="handshake_timeout"\} 2/);
  });

  it('closes a TLS connection whose handshake stalls (a partial ClientHello) within HANDSHAKE_TIMEOUT_MS', async () => {
    const certificates = createTestCertificates();
    server = await startTestServer('sqlite', {
      HANDSHAKE_TIMEOUT_MS: '500',
      TLS_CERT_FILE: certificates.server.cert,
      TLS_KEY_FILE: certificates.server.key,
    });
    const [host, port] = server.address.split(':');
    // A TLS record header announcing 500 bytes of handshake, then 30 of them: more than the 24 bytes the
    // plaintext bound looks for, so only the TLS handshake timeout can close it.
    const stalled = net.connect(Number(port), host, () =>
      stalled.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x01, 0xf4]), Buffer.alloc(30)])),
    );
    expect(await socketClosedByServer(stalled, 10_000)).toBe('closed');
  });

  it('closes a TLS connection that completes the handshake (ALPN h2) and then sends nothing, and counts it', async () => {
    const certificates = createTestCertificates();
    server = await startTestServer('sqlite', {
      HANDSHAKE_TIMEOUT_MS: '500',
      TLS_CERT_FILE: certificates.server.cert,
      TLS_KEY_FILE: certificates.server.key,
    });
    const [host, port] = server.address.split(':');
    const connect = () =>
      tls.connect({
        host,
        port: Number(port),
        servername: 'localhost',
        ca: readFileSync(certificates.ca.cert),
        ALPNProtocols: ['h2'],
      });
    const silent = connect();
    // The 24-byte preface, then no SETTINGS frame: past the plaintext-byte bound, which cannot see inside TLS.
    const prefaceOnly = connect();
    const secured = (socket: tls.TLSSocket) =>
      new Promise<string | false | null>((resolve) => socket.once('secureConnect', () => resolve(socket.alpnProtocol)));
    expect(await Promise.all([secured(silent), secured(prefaceOnly)])).toEqual(['h2', 'h2']);
    prefaceOnly.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    // A real client on TLS meanwhile, and past the bound: served.
    const clients = createCredentialedClients(server.address, tlsCredentials(certificates.ca));
    try {
      await clients.verifier.verifyKey({ key: 'tt_live_x', clientIp: '', requiredScopes: [] });
      // Generous safety margins, no speed assertion: without the bound both stay open until the idle timeout.
      expect(
        await Promise.all([socketClosedByServer(silent, 10_000), socketClosedByServer(prefaceOnly, 10_000)]),
      ).toEqual(['closed', 'closed']);
      expect((await clients.verifier.verifyKey({ key: 'tt_live_x', clientIp: '', requiredScopes: [] })).valid).toBe(
        false,
      );
    } finally {
      clients.close();
      silent.destroy();
      prefaceOnly.destroy();
      certificates.remove();
    }
    const metrics = await metricsOf(server);
    expect(metrics).toMatch(/apikeys_transport_limit_events_total\{reason="settings_timeout"\} 2/);
    expect(metrics).not.toMatch(/reason="handshake_timeout"/);
  });

  it('closes a plaintext connection that sends the preface but no SETTINGS, counted apart from a silent one', async () => {
    server = await startTestServer('sqlite', { HANDSHAKE_TIMEOUT_MS: '500' });
    const [host, port] = server.address.split(':');
    const prefaceOnly = net.connect(Number(port), host, () => prefaceOnly.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    const silent = net.connect(Number(port), host);
    expect(
      await Promise.all([socketClosedByServer(prefaceOnly, 10_000), socketClosedByServer(silent, 10_000)]),
    ).toEqual(['closed', 'closed']);
    const metrics = await metricsOf(server);
    // Each connection counted once, by the bound that closed it.
    expect(metrics).toMatch(/apikeys_transport_limit_events_total\{reason="settings_timeout"\} 1\n/);
    expect(metrics).toMatch(/apikeys_transport_limit_events_total\{reason="handshake_timeout"\} 1\n/);
  });

  it('keeps serving a client that sent the preface past HANDSHAKE_TIMEOUT_MS', async () => {
    server = await startTestServer('sqlite', { HANDSHAKE_TIMEOUT_MS: '300' });
    await server.clients.verifier.verifyKey({ key: 'tt_live_x', clientIp: '', requiredScopes: [] });
    await new Promise((resolve) => setTimeout(resolve, 800));
    const answer = await server.clients.verifier.verifyKey({ key: 'tt_live_x', clientIp: '', requiredScopes: [] });
    expect(answer).toBeDefined();
  });
});

describe('connection limits [sqlite]', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('closes a connection beyond GRPC_MAX_CONNECTIONS_PER_IP or GRPC_MAX_CONNECTIONS at once, counts it, and admits one again once another closed', async () => {
    server = await startTestServer('sqlite', { GRPC_MAX_CONNECTIONS: '5', GRPC_MAX_CONNECTIONS_PER_IP: '3' });
    const [host, port] = server.address.split(':');
    const connect = (localAddress?: string) =>
      new Promise<net.Socket>((resolve) => {
        const socket = net.connect(
          { port: Number(port), host, ...(localAddress === undefined ? {} : { localAddress }) },
          () => resolve(socket),
        );
        socket.on('error', () => undefined);
      });
    const held = [await connect(), await connect(), await connect()];
    const fourth = await connect();
    expect(await socketClosedByServer(fourth, 10_000)).toBe('closed');
    // Another peer address (127.0.0.2 is loopback too) has its own three, up to the five of the process.
    const other = [await connect('127.0.0.2'), await connect('127.0.0.2')];
    const sixth = await connect('127.0.0.2');
    expect(await socketClosedByServer(sixth, 10_000)).toBe('closed');
    held[0]!.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    try {
      expect(await checkHealth(server.address)).toBe('SERVING');
    } finally {
      for (const socket of [...held, ...other]) socket.destroy();
    }
    const metrics = await metricsOf(server);
    expect(metrics).toMatch(/apikeys_transport_limit_events_total\{reason="ip_connection_limit"\} 1\n/);
    expect(metrics).toMatch(/apikeys_transport_limit_events_total\{reason="connection_limit"\} 1\n/);
  });
});

describe('refused calls [sqlite]', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('resets the stream of a call refused before reading while its client keeps sending, freeing its place among the concurrent streams', async () => {
    const token = 'refused-stream-token-0123456789abcdef';
    server = await startTestServer('sqlite', {
      AUTH_TOKENS: `gateway=${createHash('sha256').update(token).digest('hex')}`,
      VERIFIER_REQUIRES_AUTH: 'true',
      GRPC_MAX_CONCURRENT_STREAMS: '10',
    });
    const session = http2.connect(`http://${server.address}`);
    session.on('error', () => undefined);
    try {
      // Three times the stream limit, none ending its side: without the reset the first 10 are answered
      // UNAUTHENTICATED and then held half-open by the client, and the other 20 never start.
      const outcomes = await Promise.all(
        Array.from(
          { length: 30 },
          () =>
            new Promise<string>((resolve) => {
              const stream = session.request(
                {
                  ':method': 'POST',
                  ':path': '/apikeys.v1.KeyVerifier/VerifyKey',
                  'content-type': 'application/grpc',
                  te: 'trailers',
                },
                { endStream: false },
              );
              stream.write(Buffer.from([0, 0, 0, 0, 20, 10, 3]));
              let grpcStatus = 'none';
              stream.on('response', (headers) => (grpcStatus = String(headers['grpc-status'] ?? grpcStatus)));
              stream.on('error', () => undefined);
              stream.on('close', () => resolve(`grpc-status ${grpcStatus}, rst ${stream.rstCode}`));
              // Safety only: without the reset this test fails here instead of timing out.
              setTimeout(() => resolve('still open'), 10_000).unref();
            }),
        ),
      );
      expect(outcomes).toEqual(outcomes.map(() => `grpc-status ${status.UNAUTHENTICATED}, rst 0`));
    } finally {
      session.destroy();
    }
  });

  it('logs at most LOG_FAILED_CALLS_PER_SECOND refused callers a second and sums up the others in one line; metrics count all', async () => {
    server = await startTestServer('sqlite', {
      AUTH_TOKENS: `gateway=${createHash('sha256').update('rejection-log-token-0123456789').digest('hex')}`,
      VERIFIER_REQUIRES_AUTH: 'true',
      LOG_FAILED_CALLS_PER_SECOND: '5',
    });
    const refused = await Promise.all(
      Array.from({ length: 200 }, () =>
        grpcError(server!.clients.verifier.verifyKey({ key: 'tt_live_x', clientIp: '', requiredScopes: [] })),
      ),
    );
    expect(refused.every((error) => error.code === status.UNAUTHENTICATED)).toBe(true);
    const lines = () =>
      server!.logs
        .join('')
        .split('\n')
        .filter((line) => line !== '');
    await vi.waitFor(() => expect(lines().some((line) => line.includes('"suppressed"'))).toBe(true), {
      timeout: 5000,
    });
    const oneByOne = lines().filter((line) => line.includes('"msg":"caller rejected"')).length;
    const suppressed = lines()
      .filter((line) => line.includes('"suppressed"'))
      .map((line) => (JSON.parse(line) as { suppressed: number }).suppressed)
      .reduce((a, b) => a + b, 0);
    // The 200 calls may straddle a second: two budgets at most.
    expect(oneByOne).toBeGreaterThanOrEqual(5);
    expect(oneByOne).toBeLessThanOrEqual(10);
    expect(oneByOne + suppressed).toBe(200);
    const metrics = await metricsOf(server);
    expect(metrics).toContain(
      'apikeys_rpc_handled_total{method="/apikeys.v1.KeyVerifier/VerifyKey",code="UNAUTHENTICATED"} 200',
    );
  });
});

describe('the server-side default deadline', () => {
  it('ends a call whose request never fully arrives at the default deadline, counted from its headers, and resets its stream', async () => {
    const server = await startTestServer('sqlite', { VERIFIER_DEFAULT_DEADLINE_MS: '500' });
    const session = http2.connect(`http://${server.address}`);
    session.on('error', () => undefined);
    try {
      // A length prefix announcing 60,000 bytes, then 16 KB of them, and never the rest nor the end.
      const outcome = await new Promise<string>((resolve) => {
        const stream = session.request(
          {
            ':method': 'POST',
            ':path': '/apikeys.v1.KeyVerifier/VerifyKey',
            'content-type': 'application/grpc',
            te: 'trailers',
          },
          { endStream: false },
        );
        stream.write(Buffer.concat([Buffer.from([0, 0, 0, 0xea, 0x60]), Buffer.alloc(16_384)]));
        let grpcStatus = 'none';
        stream.on('response', (headers) => (grpcStatus = String(headers['grpc-status'] ?? grpcStatus)));
        stream.on('trailers', (headers: http2.IncomingHttpHeaders) => {
          grpcStatus = String(headers['grpc-status'] ?? grpcStatus);
        });
        stream.on('error', () => undefined);
        stream.on('close', () => resolve(`grpc-status ${grpcStatus}`));
        // Safety only: without the bound the stream is held until the connection's maximum age.
        setTimeout(() => resolve('still open'), 10_000).unref();
      });
      expect(outcome).toBe(`grpc-status ${status.DEADLINE_EXCEEDED}`);
      const metrics = await metricsOf(server);
      expect(metrics).toMatch(/apikeys_transport_limit_events_total\{reason="verifier_default_deadline"\} 1\n/);
    } finally {
      session.destroy();
      await server.stop();
    }
  });

  it('ends a KeyVerifier call that carries no deadline with DEADLINE_EXCEEDED at the default', async () => {
    let calls = 0;
    const never = { verify: () => new Promise(() => (calls += 1)) } as unknown as KeyVerifier;
    const built = createServer({
      keyAdmin: {} as KeyAdminServer,
      keyVerifier: createKeyVerifierService(never, { logger: pino({ level: 'silent' }), defaultDeadlineMs: 300 }),
      maxReceiveMessageBytes: 65_536,
    });
    const port = await bindServer(built.server, '127.0.0.1', 0);
    const clients = createClients(`127.0.0.1:${port}`);
    try {
      // No deadline of its own; the client gives up after 10 s only so that a failure ends (CANCELLED).
      const call = clients.verifier.verifyKey({ key: 'tt_live_x', clientIp: '', requiredScopes: [] });
      const safety = setTimeout(() => clients.close(), 10_000);
      const error = await grpcError(call);
      clearTimeout(safety);
      expect(calls).toBe(1);
      expect(error.code).toBe(status.DEADLINE_EXCEEDED);
      expect(error.details).toContain('no deadline');
    } finally {
      clients.close();
      built.server.forceShutdown();
    }
  });
});

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { AppError, invalidArgument } from '../../../src/domain/AppError.js';
import { CallerRejectedError } from '../../../src/transport/CallerRejectedError.js';
import { CallFailure } from '../../../src/transport/pipeline/CallFailure.js';
import { logCalls } from '../../../src/transport/pipeline/logCalls.js';
import { mapErrorsToStatus } from '../../../src/transport/pipeline/mapErrorsToStatus.js';
import type { Next } from '../../../src/transport/pipeline/Middleware.js';
import { fakeCall, type FakeCallOptions, fakeNext, memoryLogger } from './fakeCall.js';

const PINO = { debug: 20, info: 30, warn: 40, error: 50 };

/** Runs one call through logCalls (over the error → status step, as in a service) and returns the lines. */
async function logOf(answer: Parameters<typeof fakeNext>[0], options: FakeCallOptions = {}, level = 'debug') {
  const { logger, lines } = memoryLogger(level);
  const run: Next = logCalls(logger)(mapErrorsToStatus(fakeNext(answer)));
  try {
    await run(fakeCall(options));
  } catch {
    // the failure is the caller's; only the log line is looked at here
  }
  return lines;
}

describe('logCalls', () => {
  it('writes one line per successful call with method, status, duration, peer, caller and request id', async () => {
    const lines = await logOf(() => 'response', { metadata: { 'x-request-id': 'req-7' } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: PINO.info,
      msg: 'rpc',
      requestId: 'req-7',
      method: '/test.v1.Echo/Echo',
      peer: 'ipv4:127.0.0.1:50000',
      caller: 'anonymous',
      status: 'OK',
    });
    expect(typeof lines[0]?.durationMs).toBe('number');
  });

  it('writes the line of an asynchronous call once, when it has ended', async () => {
    const lines = await logOf(() => Promise.resolve('response'));
    expect(lines.map((line) => line.status)).toEqual(['OK']);
  });

  it("logs a hot path's successes at its successLogLevel, its failures as usual", async () => {
    expect(await logOf(() => 'response', { successLogLevel: 'debug' }, 'info')).toEqual([]);
    expect(await logOf(() => 'response', { successLogLevel: 'debug' }, 'debug')).toMatchObject([{ level: PINO.debug }]);
    const failed = await logOf(
      () => {
        throw invalidArgument('bad');
      },
      { successLogLevel: 'debug' },
      'info',
    );
    expect(failed).toMatchObject([{ level: PINO.info, msg: 'rpc', status: 'INVALID_ARGUMENT' }]);
  });

  it('logs an internal fault at error level with the thrown error, which the caller never sees', async () => {
    const lines = await logOf(() => Promise.reject(new Error('driver exploded')));
    expect(lines).toMatchObject([{ level: PINO.error, msg: 'rpc failed', status: 'INTERNAL' }]);
    expect(lines[0]?.err).toMatchObject({ message: 'driver exploded' });
  });

  it('logs a rejected caller as a warning with its identity and the reason', async () => {
    const lines = await logOf(() => {
      throw new CallerRejectedError('PERMISSION_DENIED', 'may not use KeyAdmin', 'search-service');
    });
    expect(lines).toMatchObject([
      {
        level: PINO.warn,
        msg: 'caller rejected',
        status: 'PERMISSION_DENIED',
        caller: 'search-service',
        reason: 'may not use KeyAdmin',
      },
    ]);
  });

  it('logs an unavailable dependency as a warning with the underlying error', async () => {
    const lines = await logOf(() => {
      throw new AppError('UNAVAILABLE', 'database unavailable', { cause: new Error('ECONNREFUSED 127.0.0.1') });
    });
    expect(lines).toMatchObject([{ level: PINO.warn, msg: 'rpc unavailable', status: 'UNAVAILABLE' }]);
    expect(lines[0]?.err).toMatchObject({ message: 'ECONNREFUSED 127.0.0.1' });
  });

  it('logs a refused expired call at info level', async () => {
    const lines = await logOf(() => {
      throw new CallFailure(status.DEADLINE_EXCEEDED, 'too late');
    });
    expect(lines).toMatchObject([{ level: PINO.info, msg: 'rpc', status: 'DEADLINE_EXCEEDED', caller: 'anonymous' }]);
  });

  it('never logs the request body', async () => {
    const secret = 'tt_live_0123456789abcdefghijklmnopqrstuvwxyz';
    const lines = await logOf(
      () => {
        throw new Error('boom');
      },
      { request: { key: secret, name: 'body-field' } },
    );
    const text = JSON.stringify(lines);
    expect(lines).toHaveLength(1);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('body-field');
  });

  it('passes the result and the failure on unchanged', async () => {
    const { logger } = memoryLogger();
    expect(logCalls(logger)(fakeNext(() => 'response'))(fakeCall())).toBe('response');
    const failure = new CallFailure(status.NOT_FOUND, 'no such key');
    await expect(logCalls(logger)(fakeNext(() => Promise.reject(failure)))(fakeCall())).rejects.toBe(failure);
  });
});

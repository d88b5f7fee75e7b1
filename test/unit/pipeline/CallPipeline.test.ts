import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { invalidArgument } from '../../../src/domain/AppError.js';
import { CallerRejectedError } from '../../../src/transport/CallerRejectedError.js';
import { CallPipeline } from '../../../src/transport/pipeline/CallPipeline.js';
import { composePipeline } from '../../../src/transport/pipeline/composePipeline.js';
import { createCallPipeline } from '../../../src/transport/pipeline/createCallPipeline.js';
import type { Middleware } from '../../../src/transport/pipeline/Middleware.js';
import { UndecodableRequest } from '../../../src/transport/tolerantDecoding.js';
import { fakeIncomingCall, type FakeCallOptions, memoryLogger } from './fakeCall.js';

type Answer = [error: unknown, response?: unknown];

/** Calls a unary grpc-js handler with a fake call; resolves with every callback invocation once it settled. */
async function callUnary(
  pipeline: CallPipeline,
  handler: (request: unknown) => unknown,
  options: FakeCallOptions = {},
): Promise<Answer[]> {
  const answers: Answer[] = [];
  const grpcHandler = pipeline.unary('/test.v1.Echo/Echo', handler);
  grpcHandler(fakeIncomingCall(options), (error, response) =>
    answers.push(response === undefined ? [error] : [error, response]),
  );
  await new Promise((resolve) => setTimeout(resolve, 10));
  return answers;
}

describe('CallPipeline.unary', () => {
  const pipeline = new CallPipeline(composePipeline([]));

  it.each([
    ['a plain value', () => ({ ok: 1 })],
    ['a promise', () => Promise.resolve({ ok: 1 })],
  ])('calls back exactly once with the response when the handler returns %s', async (_, handler) => {
    expect(await callUnary(pipeline, handler)).toEqual([[null, { ok: 1 }]]);
  });

  it.each([
    [
      'throws',
      () => {
        throw invalidArgument('bad');
      },
    ],
    ['rejects', () => Promise.reject(invalidArgument('bad'))],
  ])('calls back exactly once with the status when the handler %s', async (_, handler) => {
    const answers = await callUnary(pipeline, handler);
    expect(answers).toHaveLength(1);
    expect(answers[0]?.[0]).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'bad' });
  });

  it('answers INTERNAL, not a crash, when a step itself throws', async () => {
    const broken: Middleware = () => () => {
      throw new Error('a bug in a step');
    };
    const answers = await callUnary(new CallPipeline(composePipeline([broken])), () => 'never');
    expect(answers).toEqual([[expect.objectContaining({ code: status.INTERNAL, details: 'internal error' })]]);
  });

  it('runs the steps in the given order, outermost first, around the handler', async () => {
    const order: string[] = [];
    const step =
      (name: string): Middleware =>
      (next) =>
      (call) => {
        order.push(`${name} in`);
        const result = next(call);
        order.push(`${name} out`);
        return result;
      };
    await callUnary(new CallPipeline(composePipeline([step('a'), step('b')])), () => order.push('handler'));
    expect(order).toEqual(['a in', 'b in', 'handler', 'b out', 'a out']);
  });
});

describe('createCallPipeline', () => {
  const rejectAll = () => {
    throw new CallerRejectedError('UNAUTHENTICATED', 'caller authentication required');
  };

  it('refuses an expired call before authenticating it, and logs and counts it', async () => {
    const { logger, lines } = memoryLogger();
    const observed: string[] = [];
    const pipeline = createCallPipeline({
      logger,
      authenticate: rejectAll,
      observe: (method, code) => observed.push(`${method} ${code}`),
    });
    let ran = false;
    const answers = await callUnary(pipeline, () => (ran = true), { deadline: Date.now() - 1 });
    expect(answers).toEqual([[expect.objectContaining({ code: status.DEADLINE_EXCEEDED })]]);
    expect(ran).toBe(false);
    expect(observed).toEqual(['/test.v1.Echo/Echo DEADLINE_EXCEEDED']);
    expect(lines.map((line) => line.status)).toEqual(['DEADLINE_EXCEEDED']);
  });

  it('authenticates the caller before looking at the bytes: undecodable and unauthenticated is UNAUTHENTICATED', async () => {
    const { logger } = memoryLogger();
    const request = new UndecodableRequest('test.v1.EchoRequest', 'index out of range');
    const refused = await callUnary(createCallPipeline({ logger, authenticate: rejectAll }), () => 'never', {
      request,
    });
    expect(refused).toEqual([[expect.objectContaining({ code: status.UNAUTHENTICATED })]]);
    const accepted = await callUnary(
      createCallPipeline({ logger, authenticate: () => ({ caller: 'svc' }) }),
      () => 'never',
      { request },
    );
    expect(accepted).toEqual([
      [expect.objectContaining({ code: status.INVALID_ARGUMENT, details: request.describe() })],
    ]);
  });

  it('gives the handler the authenticated caller', () => {
    const { logger, lines } = memoryLogger();
    const pipeline = createCallPipeline({ logger, authenticate: () => ({ caller: 'svc' }) });
    const grpcHandler = pipeline.unary('/test.v1.Echo/Echo', (_request, context) => context.caller);
    const answers: unknown[] = [];
    grpcHandler(fakeIncomingCall(), (error, response) => answers.push([error, response]));
    expect(answers).toEqual([[null, 'svc']]);
    expect(lines).toMatchObject([{ caller: 'svc', status: 'OK' }]);
  });
});

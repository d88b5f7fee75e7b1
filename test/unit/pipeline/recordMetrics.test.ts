import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { CallFailure } from '../../../src/transport/pipeline/CallFailure.js';
import { recordMetrics } from '../../../src/transport/pipeline/recordMetrics.js';
import { fakeCall, fakeNext } from './fakeCall.js';

function recorder() {
  const observed: [string, string, number][] = [];
  const step = recordMetrics((method, code, seconds) => observed.push([method, code, seconds]));
  return { step, observed };
}

describe('recordMetrics', () => {
  it('records a successful call once, with its method, OK and its server time', () => {
    const { step, observed } = recorder();
    expect(step(fakeNext())(fakeCall({ path: '/test.v1.Echo/Fast' }))).toBe('response');
    expect(observed).toEqual([['/test.v1.Echo/Fast', 'OK', expect.any(Number)]]);
    expect(observed[0]?.[2]).toBeGreaterThanOrEqual(0);
    expect(observed[0]?.[2]).toBeLessThan(1);
  });

  it('records a failed call by its status name, synchronously or not', async () => {
    const { step, observed } = recorder();
    const failure = new CallFailure(status.PERMISSION_DENIED, 'no');
    expect(() =>
      step(
        fakeNext(() => {
          throw failure;
        }),
      )(fakeCall()),
    ).toThrow(failure);
    await expect(step(fakeNext(() => Promise.reject(failure)))(fakeCall())).rejects.toBe(failure);
    expect(observed.map(([, code]) => code)).toEqual(['PERMISSION_DENIED', 'PERMISSION_DENIED']);
  });

  it('records an asynchronous call when it has ended, not before', async () => {
    const { step, observed } = recorder();
    let finish: (value: string) => void = () => undefined;
    const pending = step(fakeNext(() => new Promise<string>((resolve) => (finish = resolve))))(fakeCall());
    expect(observed).toEqual([]);
    finish('response');
    await expect(pending).resolves.toBe('response');
    expect(observed.map(([, code]) => code)).toEqual(['OK']);
  });
});

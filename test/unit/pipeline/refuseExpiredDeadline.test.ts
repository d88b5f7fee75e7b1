import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { CallFailure } from '../../../src/transport/pipeline/CallFailure.js';
import { refuseExpiredDeadline } from '../../../src/transport/pipeline/refuseExpiredDeadline.js';
import { fakeCall, fakeNext } from './fakeCall.js';

describe('refuseExpiredDeadline', () => {
  it.each([
    ['a Date', new Date(Date.now() - 1)],
    ['a number', Date.now() - 1000],
    ['exactly now', Date.now()],
  ])('refuses a call whose deadline (%s) has passed with DEADLINE_EXCEEDED, running nothing', (_, deadline) => {
    const next = fakeNext();
    const run = refuseExpiredDeadline(next);
    let thrown: unknown;
    try {
      run(fakeCall({ deadline }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CallFailure);
    expect(thrown).toMatchObject({
      code: status.DEADLINE_EXCEEDED,
      details: 'Deadline exceeded before the call started; nothing was done',
    });
    expect(next.calls).toHaveLength(0);
  });

  it.each([
    ['no deadline', Infinity],
    ['a future Date', new Date(Date.now() + 60_000)],
    ['a future number', Date.now() + 60_000],
  ])('runs a call with %s and passes its result on', (_, deadline) => {
    const next = fakeNext();
    expect(refuseExpiredDeadline(next)(fakeCall({ deadline }))).toBe('response');
    expect(next.calls).toHaveLength(1);
  });
});

import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { applyDefaultDeadline } from '../../../src/transport/pipeline/applyDefaultDeadline.js';
import { fakeCall, fakeNext } from './fakeCall.js';

describe('applyDefaultDeadline', () => {
  it('ends a call without a deadline at the default with DEADLINE_EXCEEDED and aborts its signal', async () => {
    let exceeded = 0;
    const call = fakeCall();
    const next = fakeNext(() => new Promise(() => undefined));
    const answer = applyDefaultDeadline(50, () => (exceeded += 1))(next)(call) as Promise<unknown>;
    expect(call.remainingMs()).toBeLessThanOrEqual(50);
    await expect(answer).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    expect(call.signal.aborted).toBe(true);
    expect(exceeded).toBe(1);
  });

  it("leaves a call that carries a deadline to it (grpc-js enforces the caller's)", () => {
    const call = fakeCall({ deadline: Date.now() + 60_000 });
    const pending = new Promise(() => undefined);
    expect(applyDefaultDeadline(50)(fakeNext(() => pending))(call)).toBe(pending);
  });

  it('answers a handler that finishes in time with its response, and costs no timer when it is synchronous', async () => {
    expect(applyDefaultDeadline(1000)(fakeNext(() => 'sync'))(fakeCall())).toBe('sync');
    await expect(applyDefaultDeadline(1000)(fakeNext(() => Promise.resolve('async')))(fakeCall())).resolves.toBe(
      'async',
    );
  });
});

import { describe, expect, it } from 'vitest';

import { CallerRejectedError } from '../../../src/transport/CallerRejectedError.js';
import { authenticateCaller } from '../../../src/transport/pipeline/authenticateCaller.js';
import { authenticatedCallers } from '../../../src/transport/pipeline/authenticatedCallers.js';
import { ANONYMOUS } from '../../../src/transport/pipeline/CallContext.js';
import { fakeCall, fakeNext } from './fakeCall.js';

describe('authenticateCaller', () => {
  it('sets who is calling before the rest of the pipeline runs', () => {
    const next = fakeNext((call) => call.context.caller);
    const run = authenticateCaller((credentials) => ({
      caller: String(credentials.metadata.get('authorization')[0]),
    }))(next);
    const call = fakeCall({ metadata: { authorization: 'Bearer x' } });
    expect(call.context).toBe(ANONYMOUS);
    expect(run(call)).toBe('Bearer x');
    expect(call.context.caller).toBe('Bearer x');
  });

  it('lets a rejected caller get no further: the rejection is thrown and next never runs', () => {
    const next = fakeNext();
    const rejection = new CallerRejectedError('UNAUTHENTICATED', 'caller authentication required');
    const run = authenticateCaller(() => {
      throw rejection;
    })(next);
    const call = fakeCall();
    expect(() => run(call)).toThrow(rejection);
    expect(next.calls).toHaveLength(0);
    expect(call.context).toBe(ANONYMOUS);
  });

  it('takes the caller the server interceptor established for this call, without authenticating again', () => {
    let authentications = 0;
    const run = authenticateCaller(() => {
      authentications += 1;
      return { caller: 'computed twice' };
    })(fakeNext((call) => call.context.caller));
    const call = fakeCall();
    authenticatedCallers.set(call.grpc.metadata, { caller: 'admin-backend' });
    expect(run(call)).toBe('admin-backend');
    expect(run(fakeCall())).toBe('computed twice');
    expect(authentications).toBe(1);
  });
});

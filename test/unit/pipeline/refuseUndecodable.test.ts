import { describe, expect, it } from 'vitest';

import { AppError } from '../../../src/domain/AppError.js';
import { refuseUndecodable } from '../../../src/transport/pipeline/refuseUndecodable.js';
import { UndecodableRequest } from '../../../src/transport/tolerantDecoding.js';
import { fakeCall, fakeNext } from './fakeCall.js';

describe('refuseUndecodable', () => {
  it('answers INVALID_ARGUMENT naming the expected message type, without running the handler', () => {
    const next = fakeNext();
    const request = new UndecodableRequest('apikeys.v1.VerifyKeyRequest', 'invalid wire type 7 at offset 3');
    let thrown: unknown;
    try {
      refuseUndecodable(next)(fakeCall({ request }));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect(thrown).toMatchObject({ code: 'INVALID_ARGUMENT', message: request.describe() });
    expect((thrown as Error).message).toContain('apikeys.v1.VerifyKeyRequest');
    expect(next.calls).toHaveLength(0);
  });

  it('passes a decoded request on', () => {
    const next = fakeNext();
    expect(refuseUndecodable(next)(fakeCall({ request: { key: 'x' } }))).toBe('response');
    expect(next.calls).toHaveLength(1);
  });
});

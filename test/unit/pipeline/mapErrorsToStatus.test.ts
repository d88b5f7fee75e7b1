import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { AppError, invalidArgument } from '../../../src/domain/AppError.js';
import { CallFailure } from '../../../src/transport/pipeline/CallFailure.js';
import { mapErrorsToStatus } from '../../../src/transport/pipeline/mapErrorsToStatus.js';
import { fakeCall, fakeNext } from './fakeCall.js';

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
}

describe('mapErrorsToStatus', () => {
  it('turns a thrown AppError into its status, keeping its client-safe message and the error as cause', () => {
    const error = invalidArgument('name: must not be empty');
    const failure = thrownBy(() =>
      mapErrorsToStatus(
        fakeNext(() => {
          throw error;
        }),
      )(fakeCall()),
    );
    expect(failure).toBeInstanceOf(CallFailure);
    expect(failure).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'name: must not be empty', cause: error });
  });

  it('turns any other error into INTERNAL with a generic message (its text goes to the log only)', async () => {
    const error = new Error('SQLITE_BUSY: database is locked at /var/lib/keys.db');
    const run = mapErrorsToStatus(fakeNext(() => Promise.reject(error)));
    const failure = await (run(fakeCall()) as Promise<unknown>).catch((caught: unknown) => caught);
    expect(failure).toBeInstanceOf(CallFailure);
    expect(failure).toMatchObject({ code: status.INTERNAL, details: 'internal error', cause: error });
    expect((failure as CallFailure).message).not.toContain('SQLITE');
  });

  it('maps a rejected promise like a thrown error', async () => {
    const error = new AppError('UNAVAILABLE', 'database unavailable', { cause: new Error('ECONNREFUSED') });
    const run = mapErrorsToStatus(fakeNext(() => Promise.reject(error)));
    await expect(run(fakeCall())).rejects.toMatchObject({ code: status.UNAVAILABLE, cause: error });
  });

  it('passes a failure that already is a status on unchanged', () => {
    const failure = new CallFailure(status.DEADLINE_EXCEEDED, 'too late');
    expect(
      thrownBy(() =>
        mapErrorsToStatus(
          fakeNext(() => {
            throw failure;
          }),
        )(fakeCall()),
      ),
    ).toBe(failure);
  });

  it('passes plain values and promises of them on as they are', async () => {
    expect(mapErrorsToStatus(fakeNext(() => 'sync'))(fakeCall())).toBe('sync');
    await expect(mapErrorsToStatus(fakeNext(() => Promise.resolve('async')))(fakeCall())).resolves.toBe('async');
  });
});

import {
  Metadata,
  type ServerInterceptingCallInterface,
  type ServerMethodDefinition,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { authenticateBeforeReading, type CallerGuard } from '../../src/transport/authenticateBeforeReading.js';
import { CallerRejectedError } from '../../src/transport/CallerRejectedError.js';
import { authenticatedCallers } from '../../src/transport/pipeline/authenticatedCallers.js';

const ADMIN_PATH = '/apikeys.v1.KeyAdmin/CreateKey';

type InterceptingListener = Parameters<ServerInterceptingCallInterface['start']>[0];

/** What reached the innermost call. */
interface Seen {
  readonly statuses: Partial<StatusObject>[];
  reads: number;
  listener?: InterceptingListener;
}

/** The innermost call as grpc-js gives it to an interceptor, recording what reaches it. */
function fakeCall() {
  const seen: Seen = { statuses: [], reads: 0 };
  const call = {
    start: (listener: InterceptingListener) => {
      seen.listener = listener;
    },
    sendStatus: (sent: Partial<StatusObject>) => seen.statuses.push(sent),
    startRead: () => (seen.reads += 1),
    getPeer: () => 'ipv4:127.0.0.1:50000',
    getAuthContext: () => ({}),
  } as unknown as ServerInterceptingCallInterface;
  return { call, seen };
}

const descriptor = (path: string) => ({ path }) as ServerMethodDefinition<unknown, unknown>;

/** Runs a call to `path` through the interceptor up to the arrival of `metadata`. */
function receive(guards: Map<string, CallerGuard>, path: string, metadata: Metadata) {
  const { call, seen } = fakeCall();
  const intercepted = authenticateBeforeReading(guards)(descriptor(path), call);
  const handlerSide: Metadata[] = [];
  intercepted.start({
    onReceiveMetadata: (passed: Metadata) => handlerSide.push(passed),
    onReceiveMessage: () => undefined,
    onReceiveHalfClose: () => undefined,
    onCancel: () => undefined,
  });
  seen.listener?.onReceiveMetadata(metadata);
  return { intercepted, call, seen, handlerSide };
}

describe('authenticateBeforeReading', () => {
  it('returns the call itself for a method without a guard (health, reflection, an open service)', () => {
    const { call } = fakeCall();
    const interceptor = authenticateBeforeReading(new Map());
    expect(interceptor(descriptor('/grpc.health.v1.Health/Check'), call)).toBe(call);
  });

  it('refuses from the metadata alone: status sent, reported, metadata never passed on', () => {
    const reported: unknown[] = [];
    const rejection = new CallerRejectedError('UNAUTHENTICATED', 'caller authentication required');
    const guard: CallerGuard = {
      authenticate: () => {
        throw rejection;
      },
      onRejected: (path, call, error) => reported.push([path, call.getPeer(), error]),
    };
    const { seen, handlerSide } = receive(new Map([[ADMIN_PATH, guard]]), ADMIN_PATH, new Metadata());
    expect(seen.statuses).toEqual([
      expect.objectContaining({ code: status.UNAUTHENTICATED, details: 'caller authentication required' }),
    ]);
    expect(reported).toEqual([[ADMIN_PATH, 'ipv4:127.0.0.1:50000', rejection]]);
    expect(handlerSide).toEqual([]);
    expect(seen.reads).toBe(0);
  });

  it('passes an admitted call on, its caller left for the pipeline', () => {
    const guard: CallerGuard = { authenticate: () => ({ caller: 'admin-backend' }), onRejected: () => undefined };
    const metadata = new Metadata();
    const { seen, handlerSide } = receive(new Map([[ADMIN_PATH, guard]]), ADMIN_PATH, metadata);
    expect(handlerSide).toEqual([metadata]);
    expect(seen.statuses).toEqual([]);
    expect(authenticatedCallers.get(metadata)).toEqual({ caller: 'admin-backend' });
  });
});

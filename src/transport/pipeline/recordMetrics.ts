import { status } from '@grpc/grpc-js';

import type { Middleware } from './Middleware.js';
import { observeOutcome } from './observeOutcome.js';
import { statusName } from './statusName.js';

/** Called once per finished RPC with its method, status name and server time in seconds. */
export type RpcObserver = (method: string, code: string, seconds: number) => void;

/** Reports every call's end (method, status, server time) to `observe`: the RPC metrics. */
export function recordMetrics(observe: RpcObserver): Middleware {
  return observeOutcome((call, failure) => {
    const seconds = (performance.now() - call.started) / 1000;
    observe(call.method.path, statusName(failure?.code ?? status.OK), seconds);
  });
}

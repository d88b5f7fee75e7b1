import { status } from '@grpc/grpc-js';

import { CallFailure } from './CallFailure.js';
import type { Middleware } from './Middleware.js';

/**
 * Refuses a call whose deadline has already passed, before anything runs. grpc-js hands over such a call
 * before its own deadline timer fires; run, a write would be stored while its caller is told
 * DEADLINE_EXCEEDED (or even OK when the handler is quicker than the timer).
 */
export const refuseExpiredDeadline: Middleware = (next) => (call) => {
  const deadline = call.grpc.getDeadline();
  if (deadline !== Infinity && Date.now() >= (deadline instanceof Date ? deadline.getTime() : deadline)) {
    throw new CallFailure(status.DEADLINE_EXCEEDED, 'Deadline exceeded before the call started; nothing was done');
  }
  return next(call);
};

import type { Middleware, Next } from './Middleware.js';
import type { RpcCall } from './RpcCall.js';

const invokeHandler: Next = (call: RpcCall) => call.method.invoke(call);

/**
 * Composes steps, outermost first, around the handler of whatever method a call is for. Done once per
 * service: every method of it, unary or server-streaming, runs through the same composed function.
 */
export function composePipeline(steps: readonly Middleware[]): Next {
  return steps.reduceRight<Next>((next, step) => step(next), invokeHandler);
}

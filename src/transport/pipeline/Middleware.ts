import type { RpcCall } from './RpcCall.js';

/**
 * The rest of the pipeline from a step's point of view: returns what the handler returned (its response,
 * or for a server-streaming method nothing), a promise of it, or throws. A plain value lets the hot path
 * answer without a promise round trip.
 */
export type Next = (call: RpcCall) => unknown;

/**
 * One step of the call pipeline, in the manner of nice-grpc's ServerMiddleware: it may act before `next`
 * (refuse, authenticate), not call it at all, or look at how `next` ended (log, count, map errors). Unlike
 * nice-grpc's `(call, context) => AsyncGenerator` it receives `next` once, when the pipeline is composed,
 * so a call costs no closure and no generator per step; unary and server-streaming methods share it.
 */
export type Middleware = (next: Next) => Next;

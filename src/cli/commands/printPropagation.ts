import type { Propagation } from '../../../gen/apikeys/v1/api_keys.js';
import type { CliContext } from '../CliContext.js';
import { formatPropagation } from '../formatPropagation.js';

/** After a write's text output: how far it had reached the replicas (nothing when the service did not wait). */
export function printPropagation(context: CliContext, propagation: Propagation | undefined): void {
  const line = formatPropagation(propagation);
  if (line !== null) context.out(`\n${line}`);
}

/**
 * A write response's protobuf JSON (`toJSON`) with every field of its propagation spelled out: the JSON
 * mapping leaves out default values, and a script should not have to know that a missing `complete`
 * means false or a missing count means 0.
 */
export function withFullPropagation(json: unknown, propagation: Propagation | undefined): unknown {
  if (propagation === undefined) return json;
  return { ...(json as Record<string, unknown>), propagation: { ...propagation } };
}

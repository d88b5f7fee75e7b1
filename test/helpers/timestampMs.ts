import type { Timestamp } from '../../gen/google/protobuf/timestamp.js';

/** A protobuf Timestamp as epoch milliseconds (NaN when unset, so a comparison with it fails loudly). */
export function timestampMs(timestamp: Timestamp | undefined): number {
  return timestamp === undefined ? Number.NaN : timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1_000_000);
}

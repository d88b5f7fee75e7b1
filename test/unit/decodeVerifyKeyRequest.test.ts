import { BinaryWriter } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { VerifyKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import { decodeVerifyKeyRequest } from '../../src/transport/decodeVerifyKeyRequest.js';

/** Differential test: the specialised VerifyKeyRequest decoder against ts-proto's, on random input. */

const RUNS = 5000;

type Outcome = { value: VerifyKeyRequest } | { error: string };

function attempt(decode: (bytes: Buffer) => VerifyKeyRequest, bytes: Buffer): Outcome {
  try {
    return { value: decode(bytes) };
  } catch (error) {
    return { error: String(error) };
  }
}

function agree(bytes: Buffer): void {
  expect(attempt(decodeVerifyKeyRequest, bytes)).toEqual(attempt((b) => VerifyKeyRequest.decode(b), bytes));
}

const text = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', 'tt_admin_P6jVGAam0123456789abcdefghij', '198.51.100.7', '2001:db8::1', 'tickets:read'),
  fc.string({ minLength: 120, maxLength: 300 }),
);
/** A field as a sender may write it: one of ours, or any other field number and wire type. */
const field = fc.oneof(
  fc.record({ number: fc.constantFrom(1, 2, 3), value: text }),
  fc.record({ number: fc.integer({ min: 1, max: 2000 }), value: text }),
  fc.record({ number: fc.integer({ min: 1, max: 20 }), varint: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }),
);

function encode(fields: readonly { number: number; value?: string; varint?: number }[]): Buffer {
  const writer = new BinaryWriter();
  for (const f of fields) {
    if (f.value !== undefined) writer.uint32((f.number << 3) | 2).string(f.value);
    else writer.uint32(f.number << 3).uint32(f.varint ?? 0);
  }
  return Buffer.from(writer.finish());
}

describe('decodeVerifyKeyRequest', () => {
  it('reads what ts-proto reads from well-formed messages, unknown fields and repeats included', () => {
    fc.assert(
      fc.property(fc.array(field, { maxLength: 8 }), (fields) => agree(encode(fields))),
      { numRuns: RUNS },
    );
  });

  it('agrees with ts-proto on truncated and corrupted messages (same value or same error)', () => {
    fc.assert(
      fc.property(
        fc.array(field, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.nat({ max: 255 }),
        fc.boolean(),
        (fields, at, byte, truncate) => {
          const bytes = encode(fields);
          const position = at % bytes.length;
          if (truncate) agree(bytes.subarray(0, position));
          else {
            bytes[position] = byte;
            agree(bytes);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('agrees with ts-proto on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => agree(Buffer.from(bytes))),
      { numRuns: RUNS },
    );
  });
});

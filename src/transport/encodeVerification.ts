import { VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import type { Verification } from '../domain/KeyVerifier.js';
import type { VerifiableKey } from '../domain/VerifiableKey.js';
import { verificationToProto } from './convert.js';

/**
 * A key's valid answer as ts-proto encodes it, but for authenticate_time (field 11): `bytes` holds
 * fields 1–10 up to `split`, field 12 after it. ts-proto writes fields in number order and leaves
 * defaults out, so the encodings of disjoint field sets laid end to end are its encoding of the whole.
 */
interface EncodedValid {
  readonly bytes: Buffer;
  readonly split: number;
  /** The message encoded in `bytes` (the verifier's one valid message; another one is re-encoded). */
  readonly message: string;
}

const encodedValid = new WeakMap<VerifiableKey, EncodedValid>();

/** authenticate_time: field 11, wire type 2 (length-delimited). */
const AUTHENTICATE_TIME_TAG = (11 << 3) | 2;
/** google.protobuf.Timestamp seconds (field 1) and nanos (field 2), both varints. */
const SECONDS_TAG = 1 << 3;
const NANOS_TAG = 2 << 3;

function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    length++;
  }
  return length;
}

/** Writes a non-negative integer below 2^53 as a varint (what BinaryWriter.int64/int32 write for it). */
function writeVarint(out: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[offset++] = value;
  return offset;
}

function encodeValidFields(outcome: Verification & { valid: true }): EncodedValid {
  const full = verificationToProto(outcome);
  const head = VerifyKeyResponse.encode({ ...full, authenticateTime: undefined, createdByUserId: '' }).finish();
  const tail = VerifyKeyResponse.encode(
    VerifyKeyResponse.fromPartial({ createdByUserId: full.createdByUserId }),
  ).finish();
  return { bytes: Buffer.concat([head, tail]), split: head.length, message: outcome.message };
}

/**
 * The VerifyKey response's bytes, equal to `VerifyKeyResponse.encode(verificationToProto(outcome))`. A
 * valid answer is encoded once per cached key; a call writes only its authentication time (the hot path
 * then costs one small buffer instead of a BinaryWriter, its growth and its finish). Denials take
 * ts-proto's encoder. test/unit/encodeVerification.test.ts compares both with ts-proto on random input.
 */
export function encodeVerification(outcome: Verification): Buffer {
  if (!outcome.valid || outcome.now < 0 || !Number.isSafeInteger(outcome.now)) {
    const bytes = VerifyKeyResponse.encode(verificationToProto(outcome)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  let encoded = encodedValid.get(outcome.key);
  if (encoded?.message !== outcome.message) {
    encoded = encodeValidFields(outcome);
    encodedValid.set(outcome.key, encoded);
  }
  const seconds = Math.floor(outcome.now / 1000);
  const nanos = (outcome.now % 1000) * 1_000_000;
  const timestampLength = (seconds === 0 ? 0 : 1 + varintLength(seconds)) + (nanos === 0 ? 0 : 1 + varintLength(nanos));
  const { bytes, split } = encoded;
  const out = Buffer.allocUnsafe(bytes.length + 2 + timestampLength);
  bytes.copy(out, 0, 0, split);
  let offset = split;
  out[offset++] = AUTHENTICATE_TIME_TAG;
  out[offset++] = timestampLength; // at most 12: one byte
  if (seconds !== 0) {
    out[offset++] = SECONDS_TAG;
    offset = writeVarint(out, offset, seconds);
  }
  if (nanos !== 0) {
    out[offset++] = NANOS_TAG;
    offset = writeVarint(out, offset, nanos);
  }
  bytes.copy(out, offset, split);
  return out;
}

import { VerifyKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import type { Verification } from '../domain/KeyVerifier.js';
import { NO_METADATA, type VerifiableKey } from '../domain/VerifiableKey.js';
import { verificationToProto } from './convert.js';

/**
 * A valid answer as ts-proto encodes it: fields 1–4 (valid, http_status, message: the same for every
 * key), fields 5–10 (the key's), authenticate_time (11, the call's), created_by_user_id (12: a string the
 * key holds already, written per call), metadata (13: its entries, encoded once per distinct metadata
 * map, which keys with equal metadata share: see toVerifiableKey; none for the many keys without).
 * ts-proto writes fields in number order and leaves defaults out, so encodings of disjoint field sets
 * laid end to end are its encoding of the whole. A key's fields 5–10
 * are kept as a latin1 string (one char per byte): a small Buffer would cost a heap object plus a slice
 * of a shared 8 KiB pool that stays alive as long as any slice of it does (≈ 400 bytes per key measured,
 * against ≈ 150).
 */
const encodedKeys = new WeakMap<VerifiableKey, string>();
/** Field 13's entries by metadata map (interned maps are shared by keys, so are their encodings). */
const encodedMetadata = new WeakMap<Readonly<Record<string, string>>, string>();
/** Fields 1–4 by message (the verifier has one valid message: one entry). */
const encodedStarts = new Map<string, string>();
const MAX_STARTS = 16;

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function encodeStart(message: string): string {
  let start = encodedStarts.get(message);
  if (start === undefined) {
    start = latin1(
      VerifyKeyResponse.encode(VerifyKeyResponse.fromPartial({ valid: true, httpStatus: 200, message })).finish(),
    );
    if (encodedStarts.size >= MAX_STARTS) encodedStarts.clear();
    encodedStarts.set(message, start);
  }
  return start;
}

function encodeKey(outcome: Verification & { valid: true }): string {
  const { keyId, keyName, keyPrefix, scopes, expireTime, organizationId } = verificationToProto(outcome);
  const fields = { keyId, keyName, keyPrefix, scopes, expireTime, organizationId };
  return latin1(VerifyKeyResponse.encode(VerifyKeyResponse.fromPartial(fields)).finish());
}

function encodeMetadata(metadata: Readonly<Record<string, string>>): string {
  if (metadata === NO_METADATA) return '';
  let encoded = encodedMetadata.get(metadata);
  if (encoded === undefined) {
    encoded = latin1(VerifyKeyResponse.encode(VerifyKeyResponse.fromPartial({ metadata })).finish());
    encodedMetadata.set(metadata, encoded);
  }
  return encoded;
}

/** authenticate_time: field 11, wire type 2 (length-delimited). */
const AUTHENTICATE_TIME_TAG = (11 << 3) | 2;
/** created_by_user_id: field 12, wire type 2. */
const CREATED_BY_USER_ID_TAG = (12 << 3) | 2;
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
  const start = encodeStart(outcome.message);
  let encoded = encodedKeys.get(outcome.key);
  if (encoded === undefined) {
    encoded = encodeKey(outcome);
    encodedKeys.set(outcome.key, encoded);
  }
  const creator = outcome.key.createdByUserId;
  const creatorLength = creator === '' ? 0 : Buffer.byteLength(creator, 'utf8');
  const seconds = Math.floor(outcome.now / 1000);
  const nanos = (outcome.now % 1000) * 1_000_000;
  const timestampLength = (seconds === 0 ? 0 : 1 + varintLength(seconds)) + (nanos === 0 ? 0 : 1 + varintLength(nanos));
  const creatorField = creator === '' ? 0 : 1 + varintLength(creatorLength) + creatorLength;
  const metadata = encodeMetadata(outcome.key.metadata);
  const out = Buffer.allocUnsafe(start.length + encoded.length + 2 + timestampLength + creatorField + metadata.length);
  let offset = out.write(start, 0, 'latin1');
  offset += out.write(encoded, offset, 'latin1');
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
  if (creator !== '') {
    out[offset++] = CREATED_BY_USER_ID_TAG;
    offset = writeVarint(out, offset, creatorLength);
    offset += out.write(creator, offset, 'utf8');
  }
  if (metadata !== '') out.write(metadata, offset, 'latin1');
  return out;
}

import { VerifyKeyRequest } from '../../gen/apikeys/v1/api_keys.js';

const KEY_TAG = (1 << 3) | 2;
const CLIENT_IP_TAG = (2 << 3) | 2;
const REQUIRED_SCOPES_TAG = (3 << 3) | 2;

/**
 * VerifyKeyRequest.decode for the request every caller sends: only fields 1–3, each length-delimited,
 * with ASCII text (a key, an address, scope names). It reads the three fields straight from the bytes,
 * without ts-proto's BinaryReader and TextDecoder; anything else (another field, another wire type, a
 * byte ≥ 0x80, a truncated message) is handed to ts-proto's decoder, so the result, or the error, is
 * always the library's. test/unit/decodeVerifyKeyRequest.test.ts compares both on random input.
 */
export function decodeVerifyKeyRequest(bytes: Buffer): VerifyKeyRequest {
  const message: VerifyKeyRequest = { key: '', clientIp: '', requiredScopes: [] };
  const end = bytes.length;
  let pos = 0;
  while (pos < end) {
    const tag = bytes[pos++];
    if (tag !== KEY_TAG && tag !== CLIENT_IP_TAG && tag !== REQUIRED_SCOPES_TAG) return VerifyKeyRequest.decode(bytes);
    // The length: a varint of at most 3 bytes here (a request is far below 2 MiB, the receive limit).
    let length = 0;
    let shift = 0;
    let byte: number;
    do {
      if (pos >= end || shift > 14) return VerifyKeyRequest.decode(bytes);
      byte = bytes[pos++] ?? 0;
      length |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte >= 0x80);
    const stop = pos + length;
    if (stop > end) return VerifyKeyRequest.decode(bytes);
    for (let i = pos; i < stop; i++) if ((bytes[i] ?? 0) >= 0x80) return VerifyKeyRequest.decode(bytes);
    const text = bytes.toString('latin1', pos, stop);
    if (tag === KEY_TAG) message.key = text;
    else if (tag === CLIENT_IP_TAG) message.clientIp = text;
    else message.requiredScopes.push(text);
    pos = stop;
  }
  return message;
}

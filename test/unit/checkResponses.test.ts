import { describe, expect, it } from 'vitest';

import { CheckResponse } from '../../gen/envoy/service/auth/v3/external_auth.js';
import { toVerifiableKey } from '../../src/domain/VerifiableKey.js';
import { allowedResponse, deniedResponse, encodeCheckResponse } from '../../src/transport/extAuthz/checkResponses.js';
import { keyRecord } from '../helpers/keyRecord.js';

const key = toVerifiableKey(
  keyRecord(Buffer.alloc(32, 7), { name: 'Zendesk Sync – Prod', scopes: ['comments:read', 'tickets:read'] }),
);
const NOW = Date.parse('2026-12-03T08:00:00.123Z');

/** What ts-proto itself writes for the same response, decoded (the wire order of map entries may differ). */
const reference = (response: CheckResponse) => CheckResponse.decode(CheckResponse.encode(response).finish());

describe('encodeCheckResponse', () => {
  it("writes an allowed response joined from the key's prepared parts exactly as ts-proto would encode it", () => {
    for (const [keyHeader, remove] of [
      ['authorization', true],
      ['x-api-key', true],
      ['authorization', false],
    ] as const) {
      for (const now of [NOW, NOW, NOW + 1]) {
        const response = allowedResponse({ valid: true, key, now, message: '' }, keyHeader, remove);
        const decoded = CheckResponse.decode(encodeCheckResponse(response));
        expect(decoded).toEqual(reference(response));
        expect(decoded.dynamicMetadata).toMatchObject({ authenticated_at: new Date(now).toISOString() });
        expect(decoded.httpResponse?.$case === 'okResponse' && decoded.httpResponse.value.headersToRemove).toEqual(
          remove ? [keyHeader] : [],
        );
      }
    }
  });

  it('writes a denial with ts-proto', () => {
    const response = deniedResponse(401, 'revoked', 'API key tt_admin_… was revoked', 'authorization');
    expect(CheckResponse.decode(encodeCheckResponse(response))).toEqual(reference(response));
  });
});

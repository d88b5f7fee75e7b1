import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';

import { generateSecret } from '../../../src/domain/keyFormat.js';
import { requestIdForLog } from '../../../src/transport/pipeline/requestIdForLog.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function metadataWith(value?: string | Buffer): Metadata {
  const metadata = new Metadata();
  if (value !== undefined) metadata.set(typeof value === 'string' ? 'x-request-id' : 'x-request-id-bin', value);
  return metadata;
}

describe('requestIdForLog', () => {
  it('keeps a short plain request id as sent', () => {
    expect(requestIdForLog(metadataWith('req-42.retry_1'))).toBe('req-42.retry_1');
  });

  it('logs an API key sent as x-request-id as its display prefix only', () => {
    const { secret } = generateSecret('admin');
    const logged = requestIdForLog(metadataWith(secret));
    expect(logged).toBe(`${secret.slice(0, 'tt_admin_'.length + 8)}…`);
    expect(logged).not.toContain(secret.slice(-10));
  });

  it.each([
    ['absent', undefined],
    ['too long', 'x'.repeat(65)],
    ['with spaces or punctuation', 'req 42; drop'],
    ['empty', ''],
  ])('makes up a UUID when the id is %s', (_, value) => {
    expect(requestIdForLog(metadataWith(value))).toMatch(UUID);
  });
});

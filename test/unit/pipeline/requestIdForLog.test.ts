import { randomBytes, randomUUID } from 'node:crypto';

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
  it.each([
    ['a short plain id', 'req-42.retry_1'],
    ['a UUID', randomUUID()],
    ['a host:port:counter id', 'checkout-7f9c:8080:000123'],
    ['a ULID', '01ARZ3NDEKTSV4RRFFQ69G5FAV'],
  ])('keeps %s as sent, without a note', (_, value) => {
    expect(requestIdForLog(metadataWith(value))).toEqual({ requestId: value });
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
  ])('makes up a UUID without a note when the id is %s', (_, value) => {
    const logged = requestIdForLog(metadataWith(value));
    expect(logged.requestId).toMatch(UUID);
    expect(logged.requestIdNote).toBeUndefined();
  });

  it.each([
    ['a 64-character hex service token', randomBytes(32).toString('hex')],
    ['a 32-character hex token', randomBytes(16).toString('hex')],
    ['a base64url token', randomBytes(24).toString('base64url').replace(/-/g, 'A')],
    ['an API key', generateSecret('admin').secret],
    ['too long', 'x-'.repeat(33)],
    [
      'a secret split by dashes',
      `${randomBytes(11).toString('hex').slice(0, 21)}-${randomBytes(11).toString('hex').slice(0, 21)}`,
    ],
    ['two UUIDs joined by a dot', `${randomUUID()}.${randomUUID()}`.slice(0, 64)],
    ['an id of 64 characters with separators', `${'ab12cd34-'.repeat(7)}a`],
    ['with spaces or punctuation', 'req 42; drop'],
  ])('replaces %s with a UUID and a note, never its text', (_, value) => {
    const logged = requestIdForLog(metadataWith(value));
    expect(logged.requestId).toMatch(UUID);
    expect(logged.requestIdNote).toMatch(/^x-request-id not logged: /);
    expect(JSON.stringify(logged)).not.toContain(value.slice(0, 12));
  });
});

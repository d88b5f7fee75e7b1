import { type Actor, type ApiKey, CreateKeyRequest, type CreateKeyResponse } from '../../gen/apikeys/v1/api_keys.js';
import type { TestServer } from './startTestServer.js';

/** A created key with its secret; `key` is always set. */
export interface TestKey {
  readonly key: ApiKey;
  readonly secret: string;
}

/** Where a key can be created: a test server, or any clients with a promised KeyAdmin (`createClients`). */
export type KeyCreator =
  | Pick<TestServer, 'clients'>
  | { readonly admin: { createKey(request: CreateKeyRequest): Promise<CreateKeyResponse> } };

/** Creates a key through a real server (default: one `tickets:read` scope, any IP, default lifetime). */
export async function createTestKey(
  target: KeyCreator,
  actor: Actor,
  request: Partial<Omit<CreateKeyRequest, 'actor'>> = {},
): Promise<TestKey> {
  const admin = 'clients' in target ? target.clients.admin : target.admin;
  const response = await admin.createKey(
    CreateKeyRequest.fromPartial({ name: 'test key', scopes: ['tickets:read'], ...request, actor }),
  );
  if (response.key === undefined) throw new Error('CreateKey returned no key');
  return { key: response.key, secret: response.secret };
}

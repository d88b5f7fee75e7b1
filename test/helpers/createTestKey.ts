import { type Actor, type ApiKey, CreateKeyRequest } from '../../gen/apikeys/v1/api_keys.js';
import type { TestServer } from './startTestServer.js';

/** A created key with its secret; `key` is always set. */
export interface TestKey {
  readonly key: ApiKey;
  readonly secret: string;
}

/** Creates a key through the real server (default: one `tickets:read` scope, any IP, default lifetime). */
export async function createTestKey(
  server: TestServer,
  actor: Actor,
  request: Partial<Omit<CreateKeyRequest, 'actor'>> = {},
): Promise<TestKey> {
  const response = await server.clients.admin.createKey(
    CreateKeyRequest.fromPartial({ name: 'test key', scopes: ['tickets:read'], ...request, actor }),
  );
  if (response.key === undefined) throw new Error('CreateKey returned no key');
  return { key: response.key, secret: response.secret };
}

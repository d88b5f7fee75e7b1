import { notFound } from '../AppError.js';

/** NOT_FOUND for a key that is absent or in another organization: the two are never told apart. */
export function keyNotFound(keyId: string): Error {
  return notFound(`API key ${JSON.stringify(keyId.slice(0, 64))} not found in your organization`);
}

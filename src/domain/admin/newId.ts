import { randomBase62 } from '../randomBase62.js';

/** A new identifier: `<kind>_` + 22 base62 characters (≈ 131 bits). */
export function newId(kind: 'key' | 'evt'): string {
  return `${kind}_${randomBase62(22)}`;
}

import type { ListCursor } from '../KeyRepository.js';
import type { PageTokens } from '../pageToken.js';
import { pageSize } from '../validation.js';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 100;

/** One page of a newest-first listing. */
export interface Page<T> {
  readonly items: T[];
  /** Empty on the last page. */
  readonly nextPageToken: string;
}

/** The rows a page holds for a requested page size: 0 means 50, above 100 means 100. */
export function pageLimit(requested: number): number {
  return pageSize(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
}

/**
 * Cuts `rows` (read with `limit + 1`, so that one more row tells whether there is a next page) to a page
 * whose token points after its last row and is bound to `listing`.
 */
export function paginate<T>(
  tokens: PageTokens,
  rows: T[],
  limit: number,
  listing: string,
  cursorOf: (row: T) => ListCursor,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextPageToken: rows.length > limit && last !== undefined ? tokens.encode(cursorOf(last), listing) : '',
  };
}

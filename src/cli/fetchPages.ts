import { UsageError } from './UsageError.js';

/** A paginated list request: the CLI sends it again with each next page token. */
interface PagedRequest {
  pageToken: string;
}

/**
 * Calls `fetchPage` once, or with `all` until the last page, collecting `itemsOf` every page. `--all`
 * and an explicit `--page-token` exclude each other (checked here for every list command).
 */
export async function fetchPages<Req extends PagedRequest, Res extends { nextPageToken: string }, T>(
  request: Req,
  options: { all: boolean; pageTokenGiven: boolean },
  fetchPage: (request: Req) => Promise<Res>,
  itemsOf: (response: Res) => readonly T[],
): Promise<{ items: T[]; nextPageToken: string }> {
  if (options.all && options.pageTokenGiven) throw new UsageError('--all and --page-token cannot be combined');
  const items: T[] = [];
  let nextPageToken: string;
  do {
    const page = await fetchPage(request);
    items.push(...itemsOf(page));
    nextPageToken = page.nextPageToken;
    request.pageToken = nextPageToken;
  } while (options.all && nextPageToken !== '');
  return { items, nextPageToken };
}

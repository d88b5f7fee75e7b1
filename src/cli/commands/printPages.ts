import type { CliContext } from '../CliContext.js';
import type { OptionDefinitions, OptionValues } from '../Command.js';
import { fetchPages } from '../fetchPages.js';
import { flag, intOption, stringOption } from '../optionValues.js';
import { printJson } from './printJson.js';

/** The options of every list command that printPages reads (`--all`, `--page-size`, `--page-token`). */
export const PAGE_OPTIONS = {
  all: { type: 'boolean' },
  'page-size': { type: 'string' },
  'page-token': { type: 'string' },
} as const satisfies OptionDefinitions;

/** How one list command asks for a page and shows what it got. */
export interface PagedListing<Req extends { pageToken: string }, Res extends { nextPageToken: string }, T> {
  /** The command's name, for the "add --page-token" hint. */
  readonly command: string;
  /** What is listed, plural (`keys`, `events`). */
  readonly noun: string;
  /**
   * The first request. `page()` reads `--page-size` and `--page-token`; spread it last, so the command's
   * own options are checked first (which error a user sees when several options are wrong).
   */
  request(page: () => { pageSize: number; pageToken: string }): Req;
  fetchPage(request: Req): Promise<Res>;
  itemsOf(response: Res): readonly T[];
  /** The `--json` output. */
  toJson(items: T[], nextPageToken: string): unknown;
  /** The table of a non-empty listing. */
  table(items: T[]): string;
}

/**
 * Runs a list command: one page, or with `--all` every page (`--page-size`, `--page-token` as given),
 * printed as JSON or a table, with a hint on stderr when more pages are left. Resolves with exit code 0.
 */
export async function printPages<Req extends { pageToken: string }, Res extends { nextPageToken: string }, T>(
  context: CliContext,
  values: OptionValues,
  listing: PagedListing<Req, Res, T>,
): Promise<number> {
  const pageToken = stringOption(values, 'page-token');
  const request = listing.request(() => ({
    pageSize: intOption(values, 'page-size', 1, 100) ?? 0,
    pageToken: pageToken ?? '',
  }));
  const { items, nextPageToken } = await fetchPages(
    request,
    { all: flag(values, 'all'), pageTokenGiven: pageToken !== undefined },
    (page) => listing.fetchPage(page),
    (response) => listing.itemsOf(response),
  );
  if (context.json) {
    printJson(context, listing.toJson(items, nextPageToken));
    return 0;
  }
  context.out(items.length === 0 ? `no ${listing.noun}` : listing.table(items));
  if (nextPageToken !== '') {
    context.err(`more ${listing.noun}: add --page-token ${nextPageToken} (or ${listing.command} --all)`);
  }
  return 0;
}

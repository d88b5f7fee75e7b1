import { KeyOwnerFilter, KeyState, ListKeysRequest, ListKeysResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { KEY_ROW_HEADERS, keyRow } from '../formatKey.js';
import { formatTable } from '../formatTable.js';
import { flag, listOption } from '../optionValues.js';
import { PAGE_OPTIONS, printPages } from './printPages.js';
import { UsageError } from '../UsageError.js';

const STATES: ReadonlyMap<string, KeyState> = new Map([
  ['active', KeyState.KEY_STATE_ACTIVE],
  ['expired', KeyState.KEY_STATE_EXPIRED],
  ['revoked', KeyState.KEY_STATE_REVOKED],
  ['disabled', KeyState.KEY_STATE_DISABLED],
]);

function parseStates(names: readonly string[]): KeyState[] {
  return names.map((name) => {
    const state = STATES.get(name.toLowerCase());
    if (state === undefined)
      throw new UsageError(`--state must be active, disabled, expired or revoked, got ${JSON.stringify(name)}`);
    return state;
  });
}

/** `apikeys list`: the organization's keys, newest first. */
export const list: Command = {
  name: 'list',
  summary: "list the organization's keys, newest first",
  synopsis: 'list [--mine] [--state STATE …] [--all | --page-size N --page-token TOKEN]',
  details: [
    '--mine                 only keys the acting user created',
    '--state STATE          active, disabled, expired or revoked; repeat or separate with commas (default: all)',
    '--all                  follow every page',
    '--page-size N          1–100 keys per page (default 50)',
    '--page-token TOKEN     continue a previous listing (printed when there are more keys)',
  ],
  options: {
    mine: { type: 'boolean' },
    state: { type: 'string', multiple: true },
    ...PAGE_OPTIONS,
  },
  positionals: [],
  needsActor: true,
  run: (context, { values }) =>
    printPages(context, values, {
      command: 'list',
      noun: 'keys',
      request: (page) =>
        ListKeysRequest.fromPartial({
          actor: context.actor(),
          owner: flag(values, 'mine')
            ? KeyOwnerFilter.KEY_OWNER_FILTER_MINE
            : KeyOwnerFilter.KEY_OWNER_FILTER_ORGANIZATION,
          states: parseStates(listOption(values, 'state') ?? []),
          ...page(),
        }),
      fetchPage: (request) => context.api().listKeys(request),
      itemsOf: (response) => response.keys,
      toJson: (keys, nextPageToken) => ListKeysResponse.toJSON({ keys, nextPageToken }),
      table: (keys) => formatTable(KEY_ROW_HEADERS, keys.map(keyRow)),
    }),
};

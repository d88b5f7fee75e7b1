import { GetKeyResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatKey } from '../formatKey.js';
import { printJson } from './printJson.js';

/** `apikeys get`: one key of the organization. */
export const get: Command = {
  name: 'get',
  summary: 'show one key',
  synopsis: 'get <key-id>',
  details: [],
  options: {},
  positionals: ['key-id'],
  needsActor: true,
  async run(context, { positionals }) {
    const response = await context.api().getKey({ actor: context.actor(), keyId: positionals[0] ?? '' });
    if (context.json) printJson(context, GetKeyResponse.toJSON(response));
    else if (response.key !== undefined) context.out(formatKey(response.key));
    return 0;
  },
};

import { ListScopesResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatTable } from '../formatTable.js';
import { printJson } from './printJson.js';

/** `apikeys scopes`: the scope catalog. */
export const scopes: Command = {
  name: 'scopes',
  summary: 'list the scopes a key may hold',
  synopsis: 'scopes',
  details: [],
  options: {},
  positionals: [],
  needsActor: true,
  async run(context) {
    const response = await context.api().listScopes({ actor: context.actor() });
    if (context.json) printJson(context, ListScopesResponse.toJSON(response));
    else {
      context.out(
        formatTable(
          ['SCOPE', 'READ-ONLY', 'DESCRIPTION'],
          response.scopes.map((scope) => [scope.name, scope.readOnly ? 'yes' : 'no', scope.description]),
        ),
      );
    }
    return 0;
  },
};

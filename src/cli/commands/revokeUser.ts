import { RevokeUserKeysResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { stringOption } from '../optionValues.js';
import { printJson } from './printJson.js';
import { printPropagation, withFullPropagation } from './printPropagation.js';

/** `apikeys revoke-user`: offboarding, revokes every active key a user created in the organization. */
export const revokeUser: Command = {
  name: 'revoke-user',
  summary: 'revoke every active key a user created in the organization (offboarding)',
  synopsis: 'revoke-user <user-id> [--reason TEXT]',
  details: ['--reason TEXT          kept with each key (default: "keys of user <id> revoked")'],
  options: { reason: { type: 'string' } },
  positionals: ['user-id'],
  needsActor: true,
  async run(context, { values, positionals }) {
    const response = await context.api().revokeUserKeys({
      actor: context.actor(),
      userId: positionals[0] ?? '',
      reason: stringOption(values, 'reason') ?? '',
    });
    if (context.json)
      printJson(context, withFullPropagation(RevokeUserKeysResponse.toJSON(response), response.propagation));
    else {
      context.out(`revoked ${response.revokedCount} key${response.revokedCount === 1 ? '' : 's'}`);
      for (const id of response.revokedKeyIds) context.out(`  ${id}`);
      printPropagation(context, response.propagation);
    }
    return 0;
  },
};

import { RevokeKeyResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatKey } from '../formatKey.js';
import { stringOption } from '../optionValues.js';
import { printJson } from './printJson.js';
import { printPropagation, withFullPropagation } from './printPropagation.js';

/** `apikeys revoke`: revokes one key, at once, on every replica. */
export const revoke: Command = {
  name: 'revoke',
  summary: 'revoke a key (immediate; revoking twice changes nothing)',
  synopsis: 'revoke <key-id> [--reason TEXT]',
  details: ['--reason TEXT          kept with the key and in the audit trail (at most 500 characters)'],
  options: { reason: { type: 'string' } },
  positionals: ['key-id'],
  needsActor: true,
  async run(context, { values, positionals }) {
    const response = await context.api().revokeKey({
      actor: context.actor(),
      keyId: positionals[0] ?? '',
      reason: stringOption(values, 'reason') ?? '',
    });
    if (context.json) printJson(context, withFullPropagation(RevokeKeyResponse.toJSON(response), response.propagation));
    else {
      if (response.key !== undefined) context.out(formatKey(response.key));
      printPropagation(context, response.propagation);
    }
    return 0;
  },
};

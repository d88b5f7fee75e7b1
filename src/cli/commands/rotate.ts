import { RotateKeyRequest, RotateKeyResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatKey } from '../formatKey.js';
import { intOption } from '../optionValues.js';
import { UsageError } from '../UsageError.js';
import { SECRET_WARNING } from './create.js';
import { printJson } from './printJson.js';
import { printPropagation, withFullPropagation } from './printPropagation.js';

/** `apikeys rotate`: replaces a key by a new one and prints the new secret once. */
export const rotate: Command = {
  name: 'rotate',
  summary: 'replace a key by a new one with the same settings (new secret, shown once)',
  synopsis: 'rotate <key-id> --grace-period-hours N [--expires-in-hours N]',
  details: [
    '--grace-period-hours N how long the old key keeps working, 0–168; 0 revokes it at once (required,',
    '                       so that no integration is cut off by accident)',
    '--expires-in-hours N   lifetime of the new key, 1–8760 (default: the service default)',
  ],
  options: { 'grace-period-hours': { type: 'string' }, 'expires-in-hours': { type: 'string' } },
  positionals: ['key-id'],
  needsActor: true,
  async run(context, { values, positionals }) {
    const grace = intOption(values, 'grace-period-hours', -2147483648, 2147483647);
    if (grace === undefined) {
      throw new UsageError('--grace-period-hours is required: 0 revokes the old key at once, 1–168 keeps it working');
    }
    const request = RotateKeyRequest.fromPartial({
      actor: context.actor(),
      keyId: positionals[0] ?? '',
      gracePeriodHours: grace,
    });
    const hours = intOption(values, 'expires-in-hours', -2147483648, 2147483647);
    if (hours !== undefined) request.expiresInHours = hours;
    const response = await context.api().rotateKey(request);
    if (context.json) printJson(context, withFullPropagation(RotateKeyResponse.toJSON(response), response.propagation));
    else {
      if (response.newKey !== undefined) context.out(`new key\n${formatKey(response.newKey)}`);
      if (response.oldKey !== undefined) context.out(`\nold key\n${formatKey(response.oldKey)}`);
      context.out(`\nsecret        ${response.secret}`);
      printPropagation(context, response.propagation);
    }
    context.err(SECRET_WARNING);
    return 0;
  },
};

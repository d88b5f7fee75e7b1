import { DenialReason, denialReasonToJSON, VerifyKeyResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { EXIT } from '../exitCodes.js';
import { formatTime } from '../formatKey.js';
import { formatFields } from '../formatTable.js';
import { listOption, stringOption } from '../optionValues.js';
import { UsageError } from '../UsageError.js';
import { printJson } from './printJson.js';

function reasonName(reason: DenialReason): string {
  return denialReasonToJSON(reason)
    .replace(/^DENIAL_REASON_/, '')
    .toLowerCase();
}

/** `apikeys verify`: asks KeyVerifier about a key read from standard input, as a gateway would. */
export const verify: Command = {
  name: 'verify',
  summary: 'verify a key read from standard input, as a gateway does (exit 3 when refused)',
  synopsis: 'verify [--ip IP] [--scope SCOPE …]  < file-with-the-key',
  details: [
    'The key is read from the first line of standard input (never a flag: it would end up in shell',
    'history and ps), e.g. `printenv MY_KEY | apikeys verify --ip 203.0.113.50 --scope tickets:read`.',
    '--ip IP                the client IP the request would come from',
    '--scope SCOPE          a scope the request needs; repeat or separate with commas',
  ],
  options: { ip: { type: 'string' }, scope: { type: 'string', multiple: true } },
  positionals: [],
  needsActor: false,
  async run(context, { values }) {
    const line = await context.readLine('API key: ');
    const key = line?.trim() ?? '';
    if (key === '') throw new UsageError('verify reads the API key from standard input, and none was given');
    const response = await context.api().verifyKey({
      key,
      clientIp: stringOption(values, 'ip') ?? '',
      requiredScopes: listOption(values, 'scope') ?? [],
    });
    if (context.json) printJson(context, VerifyKeyResponse.toJSON(response));
    else {
      const verdict = response.valid
        ? `valid (${response.httpStatus})`
        : `DENIED: ${reasonName(response.denialReason)} (${response.httpStatus})`;
      const fields: [string, string][] = [
        ['result', verdict],
        ['message', response.message],
      ];
      if (response.keyId !== '') {
        fields.push(
          ['key', `${response.keyId} ${response.keyPrefix} "${response.keyName}"`],
          ['organization', response.organizationId],
          ['scopes', response.scopes.join(', ')],
          ['expires', formatTime(response.expireTime)],
          ['created by', response.createdByUserId],
          ...Object.entries(response.metadata).map(([name, value]): [string, string] => [`meta ${name}`, value]),
        );
      }
      context.out(formatFields(fields));
    }
    return response.valid ? EXIT.OK : EXIT.KEY_DENIED;
  },
};

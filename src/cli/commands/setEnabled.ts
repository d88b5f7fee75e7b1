import { UpdateKeyRequest, UpdateKeyResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatKey } from '../formatKey.js';
import { printJson } from './printJson.js';
import { printPropagation, withFullPropagation } from './printPropagation.js';

/** `apikeys suspend` / `apikeys resume`: UpdateKey with `enabled` in the mask. */
function setEnabledCommand(name: 'suspend' | 'resume', enabled: boolean): Command {
  return {
    name,
    summary: enabled
      ? 'resume a suspended key (it verifies again at once)'
      : 'suspend a key without revoking it (denied DENIAL_REASON_DISABLED until resumed)',
    synopsis: `${name} <key-id>`,
    details: [
      enabled
        ? 'Revoked and expired keys cannot be resumed.'
        : 'The key keeps its scopes, allowlist and expiry (which keeps running); callers are told who suspended it.',
    ],
    options: {},
    positionals: ['key-id'],
    needsActor: true,
    async run(context, { positionals }) {
      const response = await context.api().updateKey(
        UpdateKeyRequest.fromPartial({
          actor: context.actor(),
          keyId: positionals[0] ?? '',
          enabled,
          updateMask: ['enabled'],
        }),
      );
      if (context.json)
        printJson(context, withFullPropagation(UpdateKeyResponse.toJSON(response), response.propagation));
      else {
        if (response.key !== undefined) context.out(formatKey(response.key));
        printPropagation(context, response.propagation);
      }
      return 0;
    },
  };
}

/** `apikeys suspend KEY`. */
export const suspend = setEnabledCommand('suspend', false);
/** `apikeys resume KEY`. */
export const resume = setEnabledCommand('resume', true);

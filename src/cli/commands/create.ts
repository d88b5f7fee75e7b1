import { CreateKeyRequest, CreateKeyResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatKey } from '../formatKey.js';
import { intOption, listOption, metadataOption, requiredString } from '../optionValues.js';
import { printJson } from './printJson.js';

/** The warning printed with every secret. */
export const SECRET_WARNING =
  'apikeys: this is the only time the secret is shown; store it now (e.g. in your secrets manager): it cannot be retrieved again';

/** `apikeys create`: creates a key and prints its secret once. */
export const create: Command = {
  name: 'create',
  summary: 'create a key and print its secret (shown once)',
  synopsis:
    'create --name NAME --scope SCOPE [--scope SCOPE …] [--ip IP|CIDR …] [--expires-in-hours N] [--meta NAME=VALUE …]',
  details: [
    '--name NAME            1–100 characters, e.g. "Zendesk Sync - Production"',
    '--scope SCOPE          a scope from `apikeys scopes`; repeat or separate with commas',
    '--ip IP|CIDR           allowed client IP or range; repeat or separate with commas (default: any IP)',
    '--expires-in-hours N   lifetime, 1–8760 (default: the service default; read-only admins: always 72)',
    '--meta NAME=VALUE      a metadata entry (returned by VerifyKey too); repeat for more, at most 20',
  ],
  options: {
    name: { type: 'string' },
    scope: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    'expires-in-hours': { type: 'string' },
    meta: { type: 'string', multiple: true },
  },
  positionals: [],
  needsActor: true,
  async run(context, { values }) {
    const request = CreateKeyRequest.fromPartial({
      actor: context.actor(),
      name: requiredString(values, 'name'),
      scopes: listOption(values, 'scope') ?? [],
      allowedIps: listOption(values, 'ip') ?? [],
      metadata: metadataOption(values, 'meta') ?? {},
    });
    const hours = intOption(values, 'expires-in-hours', -2147483648, 2147483647);
    if (hours !== undefined) request.expiresInHours = hours;
    const response = await context.api().createKey(request);
    if (context.json) printJson(context, CreateKeyResponse.toJSON(response));
    else {
      if (response.key !== undefined) context.out(formatKey(response.key));
      context.out(`\nsecret        ${response.secret}`);
    }
    context.err(SECRET_WARNING);
    return 0;
  },
};

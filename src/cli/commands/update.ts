import { UpdateKeyRequest, UpdateKeyResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatKey } from '../formatKey.js';
import { flag, intOption, listOption, metadataOption, stringOption } from '../optionValues.js';
import { UsageError } from '../UsageError.js';
import { printJson } from './printJson.js';
import { printPropagation, withFullPropagation } from './printPropagation.js';

const INT32 = [-2147483648, 2147483647] as const;

/** `apikeys update`: changes exactly the fields given (the update mask is built from the flags). */
export const update: Command = {
  name: 'update',
  summary: "change a key's name, scopes, allowed IPs or lifetime",
  synopsis:
    'update <key-id> [--name NAME] [--scope SCOPE …] [--ip IP|CIDR … | --any-ip] [--expires-in-hours N] [--meta NAME=VALUE … | --clear-meta]',
  details: [
    'Only the fields given change; the others keep their values.',
    '--name NAME            new name',
    '--scope SCOPE          the new scope list (replaces it); repeat or separate with commas',
    '--ip IP|CIDR           the new allowlist (replaces it); repeat or separate with commas',
    '--any-ip               clear the allowlist: any client IP',
    '--expires-in-hours N   new lifetime counted from now, 1–8760',
    '--meta NAME=VALUE      the new metadata (replaces all of it); repeat for more entries',
    '--clear-meta           remove all metadata',
  ],
  options: {
    name: { type: 'string' },
    scope: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    'any-ip': { type: 'boolean' },
    'expires-in-hours': { type: 'string' },
    meta: { type: 'string', multiple: true },
    'clear-meta': { type: 'boolean' },
  },
  positionals: ['key-id'],
  needsActor: true,
  async run(context, { values, positionals }) {
    const name = stringOption(values, 'name');
    const scopes = listOption(values, 'scope');
    const ips = listOption(values, 'ip');
    const anyIp = flag(values, 'any-ip');
    const hours = intOption(values, 'expires-in-hours', ...INT32);
    const metadata = metadataOption(values, 'meta');
    const clearMeta = flag(values, 'clear-meta');
    if (ips !== undefined && anyIp) throw new UsageError('--ip and --any-ip cannot be combined');
    if (metadata !== undefined && clearMeta) throw new UsageError('--meta and --clear-meta cannot be combined');
    const mask: string[] = [];
    if (name !== undefined) mask.push('name');
    if (scopes !== undefined) mask.push('scopes');
    if (ips !== undefined || anyIp) mask.push('allowed_ips');
    if (hours !== undefined) mask.push('expires_in_hours');
    if (metadata !== undefined || clearMeta) mask.push('metadata');
    if (mask.length === 0) {
      throw new UsageError(
        'nothing to change: give --name, --scope, --ip, --any-ip, --expires-in-hours, --meta or --clear-meta',
      );
    }
    const response = await context.api().updateKey(
      UpdateKeyRequest.fromPartial({
        actor: context.actor(),
        keyId: positionals[0] ?? '',
        name: name ?? '',
        scopes: scopes ?? [],
        allowedIps: ips ?? [],
        expiresInHours: hours ?? 0,
        metadata: metadata ?? {},
        updateMask: mask,
      }),
    );
    if (context.json) printJson(context, withFullPropagation(UpdateKeyResponse.toJSON(response), response.propagation));
    else {
      if (response.key !== undefined) context.out(formatKey(response.key));
      printPropagation(context, response.propagation);
    }
    return 0;
  },
};

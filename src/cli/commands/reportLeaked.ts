import { LeakOutcome, ReportLeakedKeysResponse } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatFields } from '../formatTable.js';
import { stringOption } from '../optionValues.js';
import { UsageError } from '../UsageError.js';
import { printJson } from './printJson.js';
import { printPropagation } from './printPropagation.js';

const OUTCOME_NAMES: Readonly<Record<number, string>> = {
  [LeakOutcome.LEAK_OUTCOME_NOT_A_KEY]: 'not a key (nothing looked up)',
  [LeakOutcome.LEAK_OUTCOME_UNKNOWN]: 'unknown key',
  [LeakOutcome.LEAK_OUTCOME_ALREADY_INACTIVE]: 'already revoked or expired',
  [LeakOutcome.LEAK_OUTCOME_REVOKED]: 'REVOKED now',
};

/** `apikeys report-leaked`: ReportLeakedKeys for one key read from standard input. */
export const reportLeaked: Command = {
  name: 'report-leaked',
  summary: 'revoke a key found leaked, whoever owns it (callers in LEAK_REPORTER_CLIENT_IDS)',
  synopsis: 'report-leaked [--location WHERE]  < file-with-the-key',
  details: [
    'The key is read from the first line of standard input (never a flag); see docs/leaks.md.',
    '--location WHERE       where it was found, e.g. a URL (kept in the revocation reason)',
  ],
  options: { location: { type: 'string' } },
  positionals: [],
  needsActor: false,
  async run(context, { values }) {
    const key = (await context.readLine('leaked key: '))?.trim() ?? '';
    if (key === '') throw new UsageError('report-leaked reads the key from standard input, and none was given');
    const response = await context
      .api()
      .reportLeakedKeys({ candidates: [{ key, location: stringOption(values, 'location') ?? '' }] });
    if (context.json) printJson(context, ReportLeakedKeysResponse.toJSON(response));
    else {
      const [result] = response.results;
      const fields: [string, string][] = [['result', OUTCOME_NAMES[result?.outcome ?? 0] ?? 'unknown outcome']];
      if (result !== undefined && result.keyId !== '') {
        fields.push(['key', `${result.keyId} ${result.keyPrefix}`], ['organization', result.organizationId]);
      }
      context.out(formatFields(fields));
      printPropagation(context, response.propagation);
    }
    return 0;
  },
};

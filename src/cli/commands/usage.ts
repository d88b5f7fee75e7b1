import { denialReasonToJSON, GetKeyUsageResponse, type KeyUsageDay } from '../../../gen/apikeys/v1/api_keys.js';
import type { Command } from '../Command.js';
import { formatSparkline } from '../formatSparkline.js';
import { formatTable } from '../formatTable.js';
import { intOption, stringOption } from '../optionValues.js';
import { UsageError } from '../UsageError.js';
import { printJson } from './printJson.js';

const DAY_MS = 86_400_000;

function denialsOf(day: KeyUsageDay): string {
  return day.denials
    .map(
      (denial) =>
        `${denialReasonToJSON(denial.reason)
          .replace(/^DENIAL_REASON_/, '')
          .toLowerCase()} ${denial.count}`,
    )
    .join(', ');
}

/** The UTC day `until` names (YYYY-MM-DD; default today), and the first of `days` days ending with it. */
function range(until: string | undefined, days: number): { startDay: string; endDay: string } {
  const end = until === undefined ? Date.now() : Date.parse(`${until}T00:00:00Z`);
  if (Number.isNaN(end) || (until !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(until))) {
    throw new UsageError(`--until must be a UTC date written YYYY-MM-DD, got ${JSON.stringify(until)}`);
  }
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  return { startDay: day(end - (days - 1) * DAY_MS), endDay: until ?? day(end) };
}

/** `apikeys usage`: a key's daily verifications and denials, as a table and a sparkline. */
export const usage: Command = {
  name: 'usage',
  summary: "show a key's daily verifications and denials (UTC days) with a sparkline",
  synopsis: 'usage <key-id> [--days N] [--until YYYY-MM-DD]',
  details: [
    '--days N               how many days, ending with --until: 1–366 (default 30)',
    '--until YYYY-MM-DD     the last day shown (UTC; default today)',
    'Counts reach the service every LAST_USED_FLUSH_MS (5 s by default), so today trails a little.',
  ],
  options: { days: { type: 'string' }, until: { type: 'string' } },
  positionals: ['key-id'],
  needsActor: true,
  async run(context, { values, positionals }) {
    const days = intOption(values, 'days', 1, 366) ?? 30;
    const response = await context.api().getKeyUsage({
      actor: context.actor(),
      keyId: positionals[0] ?? '',
      ...range(stringOption(values, 'until'), days),
    });
    if (context.json) {
      printJson(context, GetKeyUsageResponse.toJSON(response));
      return 0;
    }
    const rows = response.days.map((day) => [day.day, String(day.verified), String(day.denied), denialsOf(day)]);
    context.out(formatTable(['DAY', 'VERIFIED', 'DENIED', 'DENIALS'], rows));
    const verified = response.days.reduce((sum, day) => sum + day.verified, 0);
    const denied = response.days.reduce((sum, day) => sum + day.denied, 0);
    context.out('');
    context.out(`verified  ${formatSparkline(response.days.map((day) => day.verified))}  ${verified} in all`);
    context.out(`denied    ${formatSparkline(response.days.map((day) => day.denied))}  ${denied} in all`);
    context.out(`          ${response.startDay} … ${response.endDay} (UTC), one column per day`);
    return 0;
  },
};

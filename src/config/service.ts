import { str } from 'envalid';

import { documented } from './documented.js';
import { intRange } from './validators.js';

/** What the service does with keys, scopes and its log. */
export const SERVICE_SETTINGS = {
  LOG_LEVEL: documented(
    str<'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'>({
      choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      desc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`',
    }),
    '`info`',
  ),
  LOG_REJECTIONS_PER_SECOND: documented(
    intRange(
      0,
      1_000_000,
    )({
      default: 20,
      desc: 'refused callers (`caller rejected`, UNAUTHENTICATED or PERMISSION_DENIED) logged one by one each second; beyond that one line a second says how many were not (metrics count every one); `0`: log them all',
    }),
    '`20`',
  ),
  DEFAULT_KEY_LIFETIME_HOURS: documented(
    intRange(1, 8760)({ default: 8760, desc: 'lifetime of keys created without `expires_in_hours` (1–8760)' }),
    '`8760`',
  ),
  SCOPES_FILE: documented(
    str({
      default: '',
      desc: 'JSON array of `{"name": "resource:action", "description": "…"}` replacing the scope catalog',
    }),
    '(built-in catalog)',
  ),
};

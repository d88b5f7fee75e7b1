import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/loadConfig.js';
import { SETTINGS } from '../../src/config/settings.js';

/** The rows of the README's "## Configuration" table, by variable: [default, meaning]. */
function readmeRows(): Map<string, [string, string]> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.split(/^## Configuration\n/m)[1]?.split(/^## /m)[0] ?? '';
  const rows = new Map<string, [string, string]>();
  for (const line of section.split('\n')) {
    const match = /^\| `([A-Z0-9_]+)` \| (.*) \| (.*) \|$/.exec(line);
    if (match !== null) rows.set(match[1]!, [match[2]!, match[3]!]);
  }
  return rows;
}

/** The same rows from the one source, src/config/ (section by section). */
function configuredRows(): Map<string, [string, string]> {
  return new Map(Object.entries(SETTINGS).map(([name, spec]) => [name, [spec.shownDefault, spec.desc ?? '']]));
}

describe("the README's configuration table", () => {
  it('lists every variable the configuration reads, and no other', () => {
    expect([...readmeRows().keys()].sort()).toEqual([...configuredRows().keys()].sort());
  });

  it('shows each default and meaning exactly as src/config/ documents it', () => {
    const readme = readmeRows();
    for (const [name, row] of configuredRows()) {
      // On failure, the expected row is the line to paste into the README.
      expect(`| \`${name}\` | ${readme.get(name)?.join(' | ') ?? '(missing)'} |`).toBe(
        `| \`${name}\` | ${row.join(' | ')} |`,
      );
    }
  });

  it('shows the defaults the configuration applies', () => {
    const config = loadConfig({});
    const rows = readmeRows();
    expect(rows.get('LISTEN_ADDRESS')?.[0]).toBe(`\`${config.listenAddress.host}:${config.listenAddress.port}\``);
    expect(rows.get('WORKERS')?.[0]).toBe(`\`${config.workers}\``);
    expect(rows.get('SHUTDOWN_TIMEOUT_MS')?.[0]).toBe(`\`${config.shutdownTimeoutMs}\``);
    expect(rows.get('METRICS_ADDRESS')?.[0]).toBe(
      `\`${config.metricsAddress?.host ?? ''}:${config.metricsAddress?.port ?? ''}\``,
    );
  });
});

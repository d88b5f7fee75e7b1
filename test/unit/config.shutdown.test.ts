import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/config/ConfigError.js';
import { loadConfig } from '../../src/config/loadConfig.js';
import { drainPeriodFor } from '../../src/lifecycle/drainPeriodFor.js';

describe('SHUTDOWN_DRAIN_MS and SHUTDOWN_TIMEOUT_MS', () => {
  it('default to a 5 s drain period inside a 15 s stop, leaving the stop after the drain its 10 s', () => {
    const config = loadConfig({});
    expect(config.shutdownDrainMs).toBe(5000);
    expect(config.shutdownTimeoutMs).toBe(15_000);
  });

  it('accept a drain period that leaves the stop at least 1 s, and none at all with any budget', () => {
    expect(loadConfig({ SHUTDOWN_DRAIN_MS: '2000', SHUTDOWN_TIMEOUT_MS: '3000' }).shutdownDrainMs).toBe(2000);
    expect(loadConfig({ SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '0' }).shutdownTimeoutMs).toBe(0);
  });

  it('refuse a drain period that leaves the stop less than 1 s of the budget, saying what would do', () => {
    const load = () => loadConfig({ SHUTDOWN_TIMEOUT_MS: '5500' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/SHUTDOWN_DRAIN_MS \(5000\) is part of SHUTDOWN_TIMEOUT_MS \(5500\)/);
    expect(load).toThrow(/set SHUTDOWN_TIMEOUT_MS to 6000 or more \(or SHUTDOWN_DRAIN_MS=0\)/);
  });
});

describe('the drain period of a stop', () => {
  it.each([
    ['SIGTERM', false, 5000],
    ['SIGTERM', true, 5000],
    ['SIGINT', false, 5000],
    ['SIGINT', true, 0],
  ] as const)('on %s with a terminal: %s is %i ms', (signal, interactive, expected) => {
    expect(drainPeriodFor(signal, 5000, interactive)).toBe(expected);
  });
});

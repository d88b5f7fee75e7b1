import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/config/ConfigError.js';
import { loadConfig } from '../../src/config/loadConfig.js';

describe('METRICS_ADDRESS', () => {
  it('defaults to 127.0.0.1:9464', () => {
    expect(loadConfig({}).metricsAddress).toEqual({ host: '127.0.0.1', port: 9464 });
  });

  it('turns the operator HTTP port off with "off"', () => {
    expect(loadConfig({ METRICS_ADDRESS: 'off' }).metricsAddress).toBeNull();
  });

  it('rejects anything that is neither host:port nor "off", naming the setting', () => {
    expect(() => loadConfig({ METRICS_ADDRESS: 'nine' })).toThrow(ConfigError);
    expect(() => loadConfig({ METRICS_ADDRESS: 'nine' })).toThrow(/METRICS_ADDRESS/);
  });
});

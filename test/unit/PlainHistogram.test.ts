import fc from 'fast-check';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { RPC_DURATION_BUCKETS } from '../../src/metrics/createMetrics.js';
import { PlainHistogram } from '../../src/metrics/PlainHistogram.js';

/** Differential test: PlainHistogram's exposition against prom-client's Histogram, on random observations. */

const NAME = 'apikeys_rpc_duration_seconds';
const HELP = 'Server time per RPC, by method';
const methods = ['/apikeys.v1.KeyVerifier/VerifyKey', '/apikeys.v1.KeyAdmin/CreateKey', 'a"b\\c\nd'];
const observation = fc.tuple(
  fc.constantFrom(...methods),
  fc.oneof(
    fc.constantFrom(...RPC_DURATION_BUCKETS, 0, 1e-9, 10, 1e6),
    fc.double({ min: 0, max: 5, noNaN: true }),
    fc.double({ min: -1, max: 1e-3, noNaN: true }),
  ),
);

function both(): { library: Histogram; libraryRegistry: Registry; ours: PlainHistogram; ourRegistry: Registry } {
  const libraryRegistry = new Registry();
  const ourRegistry = new Registry();
  const library = new Histogram({
    name: NAME,
    help: HELP,
    labelNames: ['method'],
    buckets: RPC_DURATION_BUCKETS,
    registers: [libraryRegistry],
  });
  const ours = new PlainHistogram(NAME, HELP, ['method'], RPC_DURATION_BUCKETS, [ourRegistry]);
  return { library, libraryRegistry, ours, ourRegistry };
}

/** Records each observation in both; a series is bound on its first observation, as the RPC observer does. */
function observeAll(observations: readonly (readonly [string, number])[]): { library: Registry; ours: Registry } {
  const { library, libraryRegistry, ours, ourRegistry } = both();
  const series = new Map<string, (seconds: number) => void>();
  for (const [method, seconds] of observations) {
    library.labels(method).observe(seconds);
    let observe = series.get(method);
    if (observe === undefined) {
      observe = ours.series(method);
      series.set(method, observe);
    }
    observe(seconds);
  }
  return { library: libraryRegistry, ours: ourRegistry };
}

describe('PlainHistogram', () => {
  it('exposes what prom-client exposes for the same observations (text and JSON)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 300 }), async (observations) => {
        const { library, ours } = observeAll(observations);
        expect(await ours.metrics()).toBe(await library.metrics());
        expect(await ours.getMetricsAsJSON()).toEqual(await library.getMetricsAsJSON());
      }),
      { numRuns: 300 },
    );
  });

  it('sums across cluster workers as prom-client does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(observation, { maxLength: 100 }),
        fc.array(observation, { maxLength: 100 }),
        async (first, second) => {
          const a = observeAll(first);
          const b = observeAll(second);
          const library = AggregatorRegistry.aggregate([
            await a.library.getMetricsAsJSON(),
            await b.library.getMetricsAsJSON(),
          ]);
          const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
          expect(await ours.metrics()).toBe(await library.metrics());
        },
      ),
      { numRuns: 100 },
    );
  });
});

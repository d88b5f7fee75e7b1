import { describe, expect, it } from 'vitest';

import { formatPropagation } from '../../src/cli/formatPropagation.js';

describe('formatPropagation (the CLI line after a write)', () => {
  it('says how many replicas confirmed, and how fast', () => {
    expect(
      formatPropagation({
        confirmedReplicas: 3,
        liveReplicas: 3,
        unconfirmedReplicaIds: [],
        waitMs: 112,
        complete: true,
      }),
    ).toBe('propagated to 3/3 replicas in 112 ms');
    expect(
      formatPropagation({
        confirmedReplicas: 1,
        liveReplicas: 1,
        unconfirmedReplicaIds: [],
        waitMs: 0,
        complete: true,
      }),
    ).toBe('propagated to 1/1 replica in 0 ms');
  });

  it('names the replicas that did not confirm within the wait', () => {
    expect(
      formatPropagation({
        confirmedReplicas: 1,
        liveReplicas: 3,
        unconfirmedReplicaIds: ['b:2:bbbbbb', 'c:3:cccccc'],
        waitMs: 1000,
        complete: false,
      }),
    ).toMatch(/^NOT confirmed by replicas b:2:bbbbbb, c:3:cccccc within 1000 ms \(1\/3 replicas confirmed; /);
  });

  it('says when nothing could be learnt of the other replicas', () => {
    expect(
      formatPropagation({
        confirmedReplicas: 1,
        liveReplicas: 1,
        unconfirmedReplicaIds: [],
        waitMs: 1000,
        complete: false,
      }),
    ).toMatch(/^propagation unknown: the replicas' progress could not be read within 1000 ms/);
  });

  it('prints nothing when the service did not wait', () => {
    expect(formatPropagation(undefined)).toBeNull();
  });
});

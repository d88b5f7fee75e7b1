import { status } from '@grpc/grpc-js';
import { expect, it } from 'vitest';

import { DenialReason } from '../../gen/apikeys/v1/api_keys.js';
import { createTestKey } from '../helpers/createTestKey.js';
import { describeEachDatabase } from '../helpers/eachDatabase.js';
import { actorOf, newOrganizationId } from '../helpers/testActors.js';
import { useTestServer } from '../helpers/useTestServer.js';

type Outcome = { op: string; ok: boolean; code?: number; changed?: boolean };

describeEachDatabase('concurrent revoke / update / rotate / verify on one key', (kind) => {
  const server = useTestServer(kind);

  it.each(Array.from({ length: 8 }, (_, trial) => trial))(
    'ends consistent, with exactly the audit events of the calls that took effect (trial %i)',
    async () => {
      const actor = actorOf(newOrganizationId('race'), 'alice');
      const { key, secret } = await createTestKey(server, actor);
      const settle = async (op: string, call: () => Promise<unknown>): Promise<Outcome> => {
        try {
          await call();
          return { op, ok: true };
        } catch (error) {
          return { op, ok: false, code: (error as { code: number }).code };
        }
      };
      const admin = server.clients.admin;
      const operations: (() => Promise<Outcome>)[] = [
        ...[1, 2, 3].map(
          (i) => () =>
            settle('update', () =>
              admin.updateKey({
                metadata: {},
                actor,
                keyId: key.id,
                name: `renamed ${i}`,
                scopes: [],
                allowedIps: [],
                expiresInHours: 0,
                updateMask: ['name'],
              }),
            ),
        ),
        ...[1, 2].map((i) => () => settle('revoke', () => admin.revokeKey({ actor, keyId: key.id, reason: `r${i}` }))),
        ...[1, 2].map(
          () => () => settle('rotate', () => admin.rotateKey({ actor, keyId: key.id, gracePeriodHours: 1 })),
        ),
        () => settle('revokeUser', () => admin.revokeUserKeys({ actor, userId: 'alice', reason: 'offboarded' })),
      ];
      const verifies = Array.from({ length: 10 }, () =>
        server.clients.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] }),
      );
      const outcomes = await Promise.all(operations.sort(() => Math.random() - 0.5).map((run) => run()));
      const answers = await Promise.all(verifies);

      // Every call either took effect or was refused for the key's state; nothing failed otherwise.
      for (const outcome of outcomes) {
        if (!outcome.ok)
          expect({ op: outcome.op, code: outcome.code }).toEqual({ op: outcome.op, code: status.FAILED_PRECONDITION });
      }
      expect(outcomes.filter((o) => o.op === 'revoke').every((o) => o.ok)).toBe(true); // revoke is idempotent
      for (const answer of answers) {
        expect(answer.valid || answer.denialReason === DenialReason.DENIAL_REASON_REVOKED).toBe(true);
      }

      const events = (await server.app.db('audit_events').where('key_id', key.id).orderBy('create_time')) as {
        action: string;
      }[];
      const count = (action: string) => events.filter((event) => event.action === action).length;
      const updates = outcomes.filter((o) => o.op === 'update' && o.ok).length;
      const rotations = outcomes.filter((o) => o.op === 'rotate' && o.ok).length;
      expect(count('key_created')).toBe(1);
      expect(count('key_updated')).toBe(updates);
      expect(count('key_rotated')).toBe(rotations);
      expect(rotations).toBeLessThanOrEqual(1);
      expect(count('key_revoked')).toBe(1);
      expect(events).toHaveLength(1 + updates + rotations + 1);

      const row = (await server.app.db('api_keys').where('id', key.id).first()) as {
        revoke_time: number | null;
        replaced_by_key_id: string | null;
      };
      expect(row.revoke_time).not.toBeNull();
      const replacements = (await server.app.db('api_keys').where('rotated_from_key_id', key.id)) as unknown[];
      expect(replacements).toHaveLength(rotations);
      expect(row.replaced_by_key_id !== null).toBe(rotations === 1);
      const after = await server.clients.verifier.verifyKey({ key: secret, clientIp: '', requiredScopes: [] });
      expect(after.denialReason).toBe(DenialReason.DENIAL_REASON_REVOKED);
    },
  );
});

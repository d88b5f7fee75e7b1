import {
  AuditAction,
  type AuditEvent,
  ListAuditEventsRequest,
  ListAuditEventsResponse,
} from '../../../gen/apikeys/v1/api_keys.js';
import type { Timestamp } from '../../../gen/google/protobuf/timestamp.js';
import type { Command } from '../Command.js';
import { formatTime, roleName } from '../formatKey.js';
import { formatTable } from '../formatTable.js';
import { stringOption, timeOption } from '../optionValues.js';
import { PAGE_OPTIONS, printPages } from './printPages.js';

const ACTION_NAMES: Readonly<Record<number, string>> = {
  [AuditAction.AUDIT_ACTION_KEY_CREATED]: 'created',
  [AuditAction.AUDIT_ACTION_KEY_UPDATED]: 'updated',
  [AuditAction.AUDIT_ACTION_KEY_REVOKED]: 'revoked',
  [AuditAction.AUDIT_ACTION_KEY_ROTATED]: 'rotated',
  [AuditAction.AUDIT_ACTION_KEY_DISABLED]: 'suspended',
  [AuditAction.AUDIT_ACTION_KEY_ENABLED]: 'resumed',
};

function toTimestamp(date: Date | undefined): Timestamp | undefined {
  if (date === undefined) return undefined;
  const ms = date.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function details(event: AuditEvent): string {
  const parts = event.changes.map((change) =>
    change.oldValue === ''
      ? `${change.field}=${change.newValue}`
      : `${change.field}: ${change.oldValue} → ${change.newValue}`,
  );
  if (event.relatedKeyId !== '') parts.push(`related ${event.relatedKeyId}`);
  if (event.reason !== '') parts.push(`reason: ${event.reason}`);
  return parts.join('; ');
}

/** `apikeys audit`: the organization's audit trail, newest first. */
export const audit: Command = {
  name: 'audit',
  summary: 'show the audit trail of the organization or of one key, newest first',
  synopsis: 'audit [--key-id ID] [--since TIME] [--until TIME] [--all | --page-size N --page-token TOKEN]',
  details: [
    '--key-id ID            only events of this key',
    '--since TIME           events at or after TIME (ISO 8601, e.g. 2026-01-31T12:00:00Z)',
    '--until TIME           events before TIME',
    '--all                  follow every page',
    '--page-size N          1–100 events per page (default 50)',
    '--page-token TOKEN     continue a previous listing',
  ],
  options: {
    'key-id': { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    ...PAGE_OPTIONS,
  },
  positionals: [],
  needsActor: true,
  run: (context, { values }) =>
    printPages(context, values, {
      command: 'audit',
      noun: 'events',
      request: (page) =>
        ListAuditEventsRequest.fromPartial({
          actor: context.actor(),
          keyId: stringOption(values, 'key-id') ?? '',
          startTime: toTimestamp(timeOption(values, 'since')),
          endTime: toTimestamp(timeOption(values, 'until')),
          ...page(),
        }),
      fetchPage: (request) => context.api().listAuditEvents(request),
      itemsOf: (response) => response.events,
      toJson: (events, nextPageToken) => ListAuditEventsResponse.toJSON({ events, nextPageToken }),
      table: (events) =>
        formatTable(
          ['TIME', 'ACTION', 'KEY', 'ACTOR', 'CALLER', 'DETAILS'],
          events.map((event) => [
            formatTime(event.createTime),
            ACTION_NAMES[event.action] ?? 'unknown',
            event.keyId,
            `${event.actorUserId} (${roleName(event.actorRole)})`,
            event.caller,
            details(event),
          ]),
        ),
    }),
};

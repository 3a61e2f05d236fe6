import { migrate, SCHEMA } from '@flowwatch/clickhouse';
import { openTestClickHouse, silentLogger } from '@flowwatch/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSuppressions } from './suppressions.js';

let ch: Awaited<ReturnType<typeof openTestClickHouse>>;

beforeAll(async () => {
  ch = await openTestClickHouse();
  await migrate(ch.client, SCHEMA, silentLogger);
});
afterAll(async () => {
  await ch?.client.close();
});

const row = (id: string, over: Record<string, unknown>) => ({
  id,
  types: [],
  entities: [],
  organisations: [],
  groups: [],
  suppliers: [],
  reason: '',
  alert_id: '',
  created_by: 'tok_test',
  created_at: '2026-11-22 00:00:00.000',
  expires_at: null,
  deleted: 0,
  updated_by: 'tok_test',
  updated_at: '2026-11-22 00:00:00.000',
  version: 1,
  ...over,
});

describe("the detector reads the API's suppressions", () => {
  it('takes the active ones (latest version), skips deleted, expired, empty and invalid ones', async () => {
    const future = '2099-01-01 00:00:00.000';
    await ch.client.insert({
      table: 'suppressions',
      format: 'JSONEachRow',
      values: [
        row('sup_active', { types: ['port_scan'], entities: ['host:10.1.0.66'], reason: 'pen test', expires_at: future }),
        row('sup_replaced', { organisations: ['RR8'], version: 1 }),
        row('sup_replaced', { organisations: ['O05'], version: 2 }),
        row('sup_deleted', { organisations: ['RR8'], deleted: 1 }),
        row('sup_expired', { organisations: ['RR8'], expires_at: '2020-01-01 00:00:00.000' }),
        row('sup_empty', {}),
        row('sup_invalid', { entities: ['no-kind'] }),
      ],
    });
    const { rules, skipped } = await readSuppressions(ch.client);
    expect(rules).toEqual([
      { types: ['port_scan'], entities: ['host:10.1.0.66'], organisations: [], groups: [], suppliers: [], reason: 'pen test' },
      { types: [], entities: [], organisations: ['O05'], groups: [], suppliers: [], reason: '' },
    ]);
    expect(skipped.map((s) => s.id).sort()).toEqual(['sup_empty', 'sup_invalid']);
  });
});

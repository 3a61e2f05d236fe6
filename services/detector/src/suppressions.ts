import type { ClickHouseClient, SuppressionRow } from '@flowwatch/clickhouse';
import { type DetectorConfig, suppressionSchema } from '@flowwatch/config';

type Row = Pick<SuppressionRow, 'id' | 'types' | 'entities' | 'organisations' | 'groups' | 'suppliers' | 'reason'>;

/**
 * The suppressions in force that analysts made through the API (ClickHouse `suppressions`,
 * docs/api.md): not deleted, not expired. Each row is validated as a configured suppression
 * would be; a row that does not validate is skipped and reported, never applied half-read, and a
 * row with every selector empty (which would hide every alert; the API refuses it) is skipped too.
 */
export async function readSuppressions(
  clickhouse: ClickHouseClient,
): Promise<{ rules: DetectorConfig['suppressions']; skipped: { id: string; reason: string }[] }> {
  const rows = await (
    await clickhouse.query({
      query: `SELECT id, types, entities, organisations, groups, suppliers, reason FROM suppressions FINAL
              WHERE deleted = 0 AND (expires_at IS NULL OR expires_at > now64(3)) ORDER BY id`,
      format: 'JSONEachRow',
    })
  ).json<Row>();
  const rules: DetectorConfig['suppressions'] = [];
  const skipped: { id: string; reason: string }[] = [];
  for (const r of rows) {
    const parsed = suppressionSchema.safeParse({
      types: r.types,
      entities: r.entities,
      organisations: r.organisations,
      groups: r.groups,
      suppliers: r.suppliers,
      reason: r.reason,
    });
    if (!parsed.success) {
      skipped.push({ id: r.id, reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      continue;
    }
    const s = parsed.data;
    if (s.types.length + s.entities.length + s.organisations.length + s.groups.length + s.suppliers.length === 0) {
      skipped.push({ id: r.id, reason: 'every selector is empty' });
      continue;
    }
    rules.push(s);
  }
  return { rules, skipped };
}

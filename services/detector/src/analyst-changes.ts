import type { ClickHouseClient } from '@flowwatch/clickhouse';
import type { AnalystChange } from '@flowwatch/detection';

/** The actor of the detector's own rows in `alert_events` (a name the API refuses for its tokens). */
export const DETECTOR_ACTOR = 'detector';

/** Ids per query (a parameter array; the detector holds at most `alerts.maxOpen` alerts). */
const CHUNK = 5000;

/**
 * The latest acknowledgement or resolution by an analyst (through the API, docs/api.md) of each of
 * `ids`, with the highest version of its row. Read from ClickHouse, which the API writes before it
 * answers: `alert_events` rows not written by the detector (ordered by alert id, so a look-up per
 * id), and `alerts` for the version.
 */
export async function readAnalystChanges(clickhouse: ClickHouseClient, ids: readonly string[]): Promise<AnalystChange[]> {
  const out: AnalystChange[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const rows = await (
      await clickhouse.query({
        // Aliases unlike the columns: ClickHouse would read an alias \`event\` in the WHERE clause.
        query: `SELECT e.alert_id AS id, e.last_event AS event, e.last_ms AS at_ms, a.top_version AS version
          FROM (
            SELECT alert_id, argMax(event, at) AS last_event, toUnixTimestamp64Milli(max(at)) AS last_ms
            FROM alert_events
            WHERE alert_id IN {ids:Array(String)} AND actor != {detector:String} AND event IN ('acknowledged', 'resolved')
            GROUP BY alert_id
          ) AS e
          INNER JOIN (SELECT id, max(version) AS top_version FROM alerts WHERE id IN {ids:Array(String)} GROUP BY id) AS a
          ON a.id = e.alert_id`,
        query_params: { ids: chunk, detector: DETECTOR_ACTOR },
        format: 'JSONEachRow',
      })
    ).json<{ id: string; event: string; at_ms: string | number; version: string | number }>();
    for (const r of rows) {
      if (r.event !== 'acknowledged' && r.event !== 'resolved') continue;
      out.push({ id: r.id, status: r.event, atMs: Number(r.at_ms), version: Number(r.version) });
    }
  }
  return out;
}

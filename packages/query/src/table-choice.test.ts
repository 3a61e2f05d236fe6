import { describe, expect, it } from 'vitest';
import { chooseTable, type TableQuestion } from './table-choice.js';

const now = new Date('2026-11-21T12:34:56.789Z');
const ctx = { now, retention: { rawDays: 7, minuteDays: 90, hourDays: 730 } };
const t = (s: string) => new Date(s);
const ask = (q: Partial<TableQuestion>) =>
  chooseTable({ from: t('2026-11-20T10:00:00Z'), to: t('2026-11-20T14:00:00Z'), stepSeconds: 3600, rawOnlyFields: [], ...q }, ctx);
const tableOf = (q: Partial<TableQuestion>) => {
  const c = ask(q);
  return c.ok ? c.table : `refused: ${c.message}`;
};

describe('chooseTable', () => {
  it('takes flows_1h for whole hours, an interval of whole hours and rollup fields only', () => {
    expect(ask({})).toEqual({
      ok: true,
      table: 'flows_1h',
      reason: 'flows_1h: the interval and the range are whole hours and every field is a rollup dimension',
      notes: [],
    });
    expect(tableOf({ stepSeconds: 86_400 })).toBe('flows_1h');
    expect(tableOf({ stepSeconds: 0 })).toBe('flows_1h');
  });

  it('takes flows_1m when only minutes line up, and says why not flows_1h', () => {
    expect(ask({ stepSeconds: 300 })).toMatchObject({
      table: 'flows_1m',
      reason:
        'flows_1m: the interval and the range are whole minutes and every field is a rollup dimension (not flows_1h: the interval must be whole hours for flows_1h)',
    });
    expect(tableOf({ from: t('2026-11-20T10:05:00Z') })).toBe('flows_1m');
    expect(tableOf({ to: t('2026-11-20T13:59:00Z'), stepSeconds: 0 })).toBe('flows_1m');
  });

  it('takes flows_raw for seconds, milliseconds and raw-only fields', () => {
    expect(tableOf({ from: t('2026-11-20T10:00:30Z') })).toBe('flows_raw');
    expect(tableOf({ to: t('2026-11-20T14:00:00.001Z') })).toBe('flows_raw');
    expect(ask({ rawOnlyFields: ['src_addr', 'exporter_id'] })).toMatchObject({
      table: 'flows_raw',
      reason: 'flows_raw: the rollups cannot answer: src_addr, exporter_id are not in the rollups',
    });
  });

  it('passes over a table whose retention no longer holds the start of the range', () => {
    // 10 days ago, hour-aligned: flows_1h (and flows_1m) still hold it.
    expect(tableOf({ from: t('2026-11-11T10:00:00Z'), to: t('2026-11-11T12:00:00Z'), stepSeconds: 300 })).toBe('flows_1m');
    // 100 days ago with a 5-minute interval: past flows_1m's 90 days, and flows_1h cannot do 5 minutes.
    const old = ask({ from: t('2026-08-13T10:00:00Z'), to: t('2026-08-13T12:00:00Z'), stepSeconds: 300 });
    expect(old).toEqual({
      ok: false,
      message:
        'from 2026-08-13T10:00:00.000Z is older than flows_1m keeps (90 days, since 2026-08-23T12:34:56.789Z); flows_1h keeps it but cannot answer: the interval must be whole hours for flows_1h',
    });
  });

  it('refuses rather than answering zeros from flows_raw for a range it no longer holds', () => {
    const c = ask({ from: t('2026-11-01T10:00:30Z'), to: t('2026-11-01T11:00:00Z') });
    expect(c).toEqual({
      ok: false,
      message:
        'from 2026-11-01T10:00:30.000Z is older than flows_raw keeps (7 days, since 2026-11-14T12:34:56.789Z); flows_1m keeps it but cannot answer: from and to must be whole minutes (UTC) for flows_1m',
    });
    const host = ask({ from: t('2026-11-01T10:00:00Z'), to: t('2026-11-01T11:00:00Z'), rawOnlyFields: ['src_addr'] });
    expect(host.ok).toBe(false);
    expect(!host.ok && host.message).toMatch(/flows_1m keeps it but cannot answer: src_addr is not in the rollups$/);
  });

  it('accepts a start a moment before the retention boundary ("the last 7 days"), with a note', () => {
    const c = ask({ from: t('2026-11-14T12:34:00Z'), to: now, rawOnlyFields: ['src_addr'] });
    expect(c).toMatchObject({ ok: true, table: 'flows_raw' });
    expect(c.ok && c.notes).toEqual([
      'flows_raw keeps 7 days: data before 2026-11-14T12:34:56.789Z may have expired, so the start of the range may be incomplete',
    ]);
    expect(ask({ from: t('2026-11-14T12:20:00Z'), to: now, rawOnlyFields: ['src_addr'] }).ok).toBe(false);
  });

  it('answers from the longest-kept table with a note when no table holds the start; refuses when none holds any of it', () => {
    const partly = ask({ from: t('2024-11-01T00:00:00Z'), to: t('2024-12-01T00:00:00Z'), stepSeconds: 86_400 });
    expect(partly).toMatchObject({ ok: true, table: 'flows_1h', reason: expect.stringContaining('it keeps the oldest data') });
    expect(partly.ok && partly.notes[0]).toMatch(/^flows_1h keeps 730 days: data before 2024-11-21T12:34:56.789Z may have expired/);
    expect(ask({ from: t('2023-01-01T00:00:00Z'), to: t('2023-02-01T00:00:00Z'), stepSeconds: 86_400 })).toEqual({
      ok: false,
      message: 'the whole range is older than any table keeps (flows_1h: 730 days, since 2024-11-21T12:34:56.789Z)',
    });
  });

  it('follows the configured retention, whichever table keeps longest', () => {
    const odd = { now, retention: { rawDays: 30, minuteDays: 3, hourDays: 2 } };
    const q = { from: t('2026-11-10T10:00:00Z'), to: t('2026-11-10T12:00:00Z'), stepSeconds: 3600, rawOnlyFields: [] };
    expect(chooseTable(q, odd)).toMatchObject({ ok: true, table: 'flows_raw', reason: 'flows_raw: the rollups no longer hold the range' });
  });

  it('a forced table answers if it can, with a note if the range may have expired there', () => {
    expect(ask({ force: 'flows_raw' })).toEqual({ ok: true, table: 'flows_raw', reason: 'flows_raw, as asked', notes: [] });
    expect(ask({ force: 'flows_1m', stepSeconds: 300 })).toMatchObject({ ok: true, table: 'flows_1m' });
    expect(ask({ force: 'flows_1h', stepSeconds: 300 })).toEqual({
      ok: false,
      message: 'table flows_1h cannot answer this: the interval must be whole hours for flows_1h',
    });
    expect(ask({ force: 'flows_1m', rawOnlyFields: ['src_port'] })).toEqual({
      ok: false,
      message: 'table flows_1m cannot answer this: src_port is not in the rollups',
    });
    const old = ask({ force: 'flows_raw', from: t('2026-11-01T10:00:00Z'), to: t('2026-11-01T11:00:00Z') });
    expect(old.ok && old.notes).toEqual([
      'flows_raw keeps 7 days: data before 2026-11-14T12:34:56.789Z may have expired, so the start of the range may be incomplete',
    ]);
  });
});

import { readFile, stat } from 'node:fs/promises';
import type { DetectorConfig } from '@flowwatch/config';
import { BlocklistTable, parseBlocklist } from '@flowwatch/detection';

export interface LoadedBlocklists {
  table: BlocklistTable;
  /** Modification times, to reload only when a file changed. */
  signature: string;
  problems: string[];
}

/** Reads every configured block list file (a missing or unreadable file is a problem, not a crash). */
export async function loadBlocklists(lists: DetectorConfig['blocklists']): Promise<LoadedBlocklists> {
  const parsed: { name: string; severity: DetectorConfig['blocklists'][number]['severity']; prefixes: string[] }[] = [];
  const problems: string[] = [];
  const stamps: string[] = [];
  for (const list of lists) {
    try {
      const s = await stat(list.path);
      stamps.push(`${list.path}:${s.mtimeMs}:${s.size}`);
      const { prefixes, badLines } = parseBlocklist(await readFile(list.path, 'utf8'));
      if (badLines > 0) problems.push(`${list.name}: ${badLines} lines are not addresses or prefixes`);
      parsed.push({ name: list.name, severity: list.severity, prefixes });
    } catch (err) {
      stamps.push(`${list.path}:missing`);
      problems.push(`${list.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { table: new BlocklistTable(parsed), signature: stamps.join('|'), problems };
}

/** The modification signature alone (cheap check before a reload). */
export async function blocklistSignature(lists: DetectorConfig['blocklists']): Promise<string> {
  const stamps: string[] = [];
  for (const list of lists) {
    try {
      const s = await stat(list.path);
      stamps.push(`${list.path}:${s.mtimeMs}:${s.size}`);
    } catch {
      stamps.push(`${list.path}:missing`);
    }
  }
  return stamps.join('|');
}

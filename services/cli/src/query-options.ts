/**
 * Command-line options of the query commands (`traffic`, `top`, `matrix`, `flows`). Kept apart
 * from query-command.ts so that main can parse them without loading ClickHouse or the queries.
 */
export const QUERY_COMMANDS = ['traffic', 'top', 'matrix', 'flows'] as const;
export type QueryCommand = (typeof QUERY_COMMANDS)[number];

export const QUERY_OPTIONS = {
  from: { type: 'string' },
  to: { type: 'string' },
  interval: { type: 'string' },
  by: { type: 'string' },
  where: { type: 'string', multiple: true },
  top: { type: 'string' },
  rank: { type: 'string' },
  rest: { type: 'string' },
  of: { type: 'string' },
  metric: { type: 'string' },
  level: { type: 'string' },
  limit: { type: 'string' },
  table: { type: 'string' },
  metrics: { type: 'string' },
} as const;

export type QueryOptionName = keyof typeof QUERY_OPTIONS;

/** Which options each command takes (each is a field of the command's query schema). */
export const COMMAND_OPTIONS: Record<QueryCommand, readonly QueryOptionName[]> = {
  traffic: ['from', 'to', 'interval', 'by', 'where', 'top', 'rank', 'rest', 'metrics', 'table'],
  top: ['from', 'to', 'of', 'metric', 'limit', 'where', 'metrics', 'table'],
  matrix: ['from', 'to', 'level', 'metric', 'limit', 'where', 'metrics', 'table'],
  flows: ['from', 'to', 'where', 'limit'],
};

export const isQueryCommand = (s: string): s is QueryCommand => (QUERY_COMMANDS as readonly string[]).includes(s);

import { z } from 'zod';

/**
 * Every error the API answers with, in one place: the `error` code of the JSON body, its HTTP
 * status and what it means. docs/api.md copies this table. Clients branch on `error`; `message`
 * is for people; `field` names the offending input (`query.limit`, `body.text`, `params.id`).
 * Stack traces and internal messages never reach a client: a 500 says `internal error`.
 */
export const ERROR_CODES = {
  bad_request: { status: 400, meaning: 'The request is malformed: a parameter or body field is invalid (`field` names it)' },
  unauthorized: { status: 401, meaning: 'No credentials, or a token or session that is unknown, expired or revoked' },
  forbidden: { status: 403, meaning: "The role may not do this, or a supplier asked for another supplier's data" },
  csrf: { status: 403, meaning: "A change made with a session cookie without the session's CSRF token, or from another origin" },
  not_found: { status: 404, meaning: 'No such route or object, or one outside a supplier’s scope' },
  conflict: { status: 409, meaning: 'The alert is not in a state that allows this (e.g. acknowledging a resolved alert)' },
  payload_too_large: { status: 413, meaning: 'The body is larger than api.bodyLimitBytes' },
  unsupported_media_type: { status: 415, meaning: 'Bodies must be application/json' },
  unanswerable: { status: 422, meaning: 'No table can answer this traffic question (retention); the message says why' },
  query_budget: {
    status: 422,
    meaning:
      "The traffic question needs more time, rows or memory than the caller's role may use (api.queryBudgets); narrow its range or filters",
  },
  rate_limited: { status: 429, meaning: 'Over the per-token rate (or too many failed logins from one address); see Retry-After' },
  internal: { status: 500, meaning: 'A bug or an unexpected failure; logged on the server with its details' },
  unavailable: { status: 503, meaning: 'ClickHouse or Kafka does not answer, or too many open event streams' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** An expected failure with its code; thrown inside handlers and turned into the JSON body by the error handler. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = ERROR_CODES[code].status;
  }
}

export const errorBodySchema = z
  .object({
    error: z.enum(ERROR_CODE_NAMES).describe('Error code (docs/api.md, "Errors")'),
    message: z.string().describe('What went wrong, for a person'),
    field: z.string().optional().describe('The input at fault: query.<name>, body.<name>, params.<name>'),
  })
  .meta({ id: 'Error', description: 'The body of every error answer' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The error responses a route documents, by status: every route has 400, 401, 403, 429, 500. */
export function errorResponses(...statuses: (400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503)[]) {
  const out: Record<number, typeof errorBodySchema> = {};
  for (const s of statuses) out[s] = errorBodySchema;
  return out;
}

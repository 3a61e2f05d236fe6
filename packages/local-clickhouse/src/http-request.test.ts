import { describe, expect, it } from 'vitest';
import { FrontRequestError, frontError, parseFrontRequest, parseMultipart, setStatement, stringLiteral } from './http-request.js';

const url = (q: Record<string, string>) => new URL(`http://front/?${new URLSearchParams(q)}`);

describe('parseFrontRequest', () => {
  it('reads a query sent as the body, with settings, parameters and database from the URL', () => {
    const r = parseFrontRequest(
      url({
        query_id: 'q1',
        database: 'fw',
        param_p: "it\\'s",
        insert_deduplication_token: 'x',
        wait_end_of_query: '1',
        enable_http_compression: '1',
      }),
      'SELECT {p:String}\nFORMAT JSONEachRow',
      undefined,
    );
    expect(r).toMatchObject({ sql: 'SELECT {p:String}\nFORMAT JSONEachRow', database: 'fw', queryId: 'q1', compressResponse: true });
    expect([...r.settings]).toEqual([['insert_deduplication_token', 'x']]);
    expect([...r.params]).toEqual([['p', "it\\'s"]]);
  });

  it('puts an INSERT statement from the URL before its data from the body', () => {
    const r = parseFrontRequest(url({ query: 'INSERT INTO t FORMAT TabSeparated' }), '1\n2\n', undefined);
    expect(r.sql).toBe('INSERT INTO t FORMAT TabSeparated\n1\n2\n');
    expect(r.emptyInsert).toBe(false);
    expect(parseFrontRequest(url({ query: 'INSERT INTO t FORMAT TabSeparated' }), '', undefined).emptyInsert).toBe(true);
  });

  it('reads multipart parameters and refuses sessions and empty queries', () => {
    const body =
      '--B\r\nContent-Disposition: form-data; name="query"\r\n\r\nSELECT {a:Array(String)}\r\n--B\r\nContent-Disposition: form-data; name="param_a"\r\n\r\n[\'x\',\'y\']\r\n--B--\r\n';
    const r = parseFrontRequest(url({}), body, 'multipart/form-data; boundary=B');
    expect(r.sql).toBe('SELECT {a:Array(String)}');
    expect([...r.params]).toEqual([['a', "['x','y']"]]);
    expect(() => parseFrontRequest(url({ session_id: 's' }), 'SELECT 1', undefined)).toThrow(FrontRequestError);
    expect(() => parseFrontRequest(url({}), '  ', undefined)).toThrow(/Empty query/);
  });
});

describe('setStatement', () => {
  it('sets every value as a string literal holding the text sent', () => {
    expect(setStatement(new Map([['max_threads', '2']]), new Map([['p', "a\\'b"]]))).toBe("SET max_threads = '2', param_p = 'a\\\\\\'b'");
    expect(setStatement(new Map(), new Map())).toBeUndefined();
    expect(() => setStatement(new Map([['x; DROP TABLE t', '1']]), new Map())).toThrow(FrontRequestError);
  });

  it('quotes so that the literal reads back as the original text', () => {
    expect(stringLiteral("\\'")).toBe("'\\\\\\''");
  });
});

describe('frontError', () => {
  it('keeps the engine message and maps its code to a status', () => {
    expect(frontError(new Error('Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)'))).toEqual({
      status: 404,
      code: 60,
      body: 'Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)\n',
    });
    expect(frontError(new Error('Code: 62. DB::Exception: Syntax error. (SYNTAX_ERROR)')).status).toBe(400);
    expect(frontError(new Error('Code: 999. DB::Exception: x. (KEEPER_EXCEPTION)')).status).toBe(500);
    expect(frontError(new Error('binding broke'))).toMatchObject({ status: 500, code: 1001 });
  });
});

describe('parseMultipart', () => {
  it('ignores the closing delimiter and parts without a name', () => {
    expect([...parseMultipart('--B\r\nX: y\r\n\r\nv\r\n--B--\r\n', 'B')]).toEqual([]);
  });
});

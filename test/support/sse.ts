/** A server-sent events client for tests: collects `{ event, data }` as they arrive. */
export interface EventStream {
  status: number;
  headers: Headers;
  /** Each event with its `id:` field when it had one. */
  events: { event: string; data: unknown; id?: string }[];
  /** Resolves with the first event (already received or arriving) for which `pred` holds. */
  waitFor(
    pred: (e: { event: string; data: unknown; id?: string }) => boolean,
    timeoutMs?: number,
  ): Promise<{ event: string; data: unknown; id?: string }>;
  /** Resolves when the server closes the stream. */
  closed: Promise<void>;
  close(): void;
}

export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: { event: string; data: unknown; id?: string }[] = [];
  const waiters = new Set<() => void>();
  let done: () => void = () => {};
  const closed = new Promise<void>((r) => {
    done = r;
  });
  if (res.body && res.headers.get('content-type')?.startsWith('text/event-stream')) {
    void (async () => {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      try {
        for (;;) {
          const { value, done: end } = await reader.read();
          if (end) break;
          buffer += value;
          let i: number;
          while ((i = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            let event = 'message';
            let id: string | undefined;
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data.push(line.slice(6));
              else if (line.startsWith('id: ')) id = line.slice(4);
            }
            if (data.length === 0) continue;
            events.push({ event, data: JSON.parse(data.join('\n')), ...(id !== undefined ? { id } : {}) });
            for (const w of waiters) w();
          }
        }
      } catch {
        // aborted
      }
      done();
    })();
  } else done();
  return {
    status: res.status,
    headers: res.headers,
    events,
    closed,
    waitFor(pred, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(pred);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event in ${timeoutMs} ms; got ${events.map((e) => e.event).join(', ') || 'none'}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => abort.abort(),
  };
}

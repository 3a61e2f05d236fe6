import type { AlertSummary, TrafficTick } from './types.js';

/**
 * The one event stream of the page (GET /api/v1/stream, with the session cookie). Pages subscribe
 * to `alert`, `alert_event` and `traffic`; the header shows whether the stream is connected.
 * EventSource reconnects by itself; a stream the server refused (the session ended) is reported
 * so the page can go back to the log-in.
 */
export interface LiveEvents {
  alert: { event: string; alert: AlertSummary };
  alert_event: { id: string; event: string };
  traffic: TrafficTick;
  state: 'live' | 'connecting' | 'closed';
}
type Name = keyof LiveEvents;

const listeners: { [K in Name]: Set<(data: LiveEvents[K]) => void> } = {
  alert: new Set(),
  alert_event: new Set(),
  traffic: new Set(),
  state: new Set(),
};
let source: EventSource | undefined;

function emit<K extends Name>(name: K, data: LiveEvents[K]): void {
  for (const fn of listeners[name]) fn(data);
}

export function on<K extends Name>(name: K, fn: (data: LiveEvents[K]) => void): () => void {
  listeners[name].add(fn);
  return () => listeners[name].delete(fn);
}

export function connect(onClosed: () => void): void {
  disconnect();
  const es = new EventSource('/api/v1/stream');
  source = es;
  emit('state', 'connecting');
  es.addEventListener('hello', () => emit('state', 'live'));
  es.addEventListener('open', () => emit('state', 'live'));
  for (const name of ['alert', 'alert_event', 'traffic'] as const) {
    es.addEventListener(name, (e) => {
      try {
        emit(name, JSON.parse((e as MessageEvent<string>).data));
      } catch {
        // a malformed event is skipped
      }
    });
  }
  es.addEventListener('end', () => {
    es.close();
    emit('state', 'closed');
    onClosed();
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      emit('state', 'closed');
      onClosed();
    } else emit('state', 'connecting');
  });
}

export function disconnect(): void {
  source?.close();
  source = undefined;
}

import { type Registry, ServiceMetrics } from '@flowwatch/observability';

/** Every simulator metric, named flowwatch_simulator_*; labels from small fixed sets (protocol, supplier, status, reason). */
export function createSimulatorMetrics(registry: Registry) {
  const m = new ServiceMetrics(registry, 'simulator');
  return {
    records: m.counter('records', 'Flow records sent (sFlow: flow samples), by protocol and supplier', ['protocol', 'supplier']),
    datagrams: m.counter('datagrams', 'UDP datagrams sent, by protocol and supplier', ['protocol', 'supplier']),
    sentBytes: m.counter('sent_bytes', 'Bytes of UDP datagrams and push bodies sent, by supplier', ['supplier']),
    pushRequests: m.counter('push_requests', 'Push requests by HTTP status class (or error) and supplier', ['status', 'supplier']),
    sendErrors: m.counter('send_errors', 'Datagrams or pushes that could not be sent, by reason', ['reason']),
    labels: m.counter('labels', 'Scenario labels written, by type', ['type']),
    eventTime: m.gauge('event_time', 'seconds', 'Simulated clock: the event time sent so far (Unix seconds)'),
    lag: m.gauge('lag', 'seconds', 'Event time the sender is behind the simulated clock (rate cap or push backlog)'),
    activeScenarios: m.gauge('active_scenarios', 'count', 'Scenarios running at the simulated clock'),
  };
}
export type SimulatorMetrics = ReturnType<typeof createSimulatorMetrics>;

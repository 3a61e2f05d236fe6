import { describe, expect, it } from 'vitest';
import { bucketCounts, histogramOf, histogramQuantile, leastSquaresSlope, parsePrometheusText, sumBy, sumOf } from './soak-stats.js';

const TEXT = `# HELP flowwatch_detector_detection_latency_seconds From the flow reaching the collector
# TYPE flowwatch_detector_detection_latency_seconds histogram
flowwatch_detector_detection_latency_seconds_bucket{le="1",type="port_scan"} 2
flowwatch_detector_detection_latency_seconds_bucket{le="2",type="port_scan"} 6
flowwatch_detector_detection_latency_seconds_bucket{le="5",type="port_scan"} 10
flowwatch_detector_detection_latency_seconds_bucket{le="+Inf",type="port_scan"} 10
flowwatch_detector_detection_latency_seconds_bucket{le="1",type="flood"} 0
flowwatch_detector_detection_latency_seconds_bucket{le="2",type="flood"} 0
flowwatch_detector_detection_latency_seconds_bucket{le="5",type="flood"} 1
flowwatch_detector_detection_latency_seconds_bucket{le="+Inf",type="flood"} 2
flowwatch_collector_rejected_total{protocol="IPFIX",supplier="s-1",reason="kafka_buffer_full"} 30
flowwatch_collector_rejected_total{protocol="IPFIX",supplier="s-2",reason="kafka_buffer_full"} 12
flowwatch_collector_rejected_total{protocol="NETFLOW_V9",supplier="s-2",reason="worker_queue_full"} 1
flowwatch_process_resident_memory_bytes 123456789
`;

describe('soak statistics', () => {
  const samples = parsePrometheusText(TEXT);

  it('parses samples with their labels and sums them by label', () => {
    expect(sumOf(samples, 'flowwatch_process_resident_memory_bytes')).toBe(123_456_789);
    expect(sumOf(samples, 'flowwatch_collector_rejected_total')).toBe(43);
    expect(sumOf(samples, 'flowwatch_collector_rejected_total', { supplier: 's-2' })).toBe(13);
    expect(sumBy(samples, 'flowwatch_collector_rejected_total', 'reason')).toEqual({ kafka_buffer_full: 42, worker_queue_full: 1 });
  });

  it('reads a histogram over every label set or one, and its quantiles as histogram_quantile does', () => {
    const scans = histogramOf(samples, 'flowwatch_detector_detection_latency_seconds', { type: 'port_scan' });
    expect(scans).toEqual({ le: [1, 2, 5, Number.POSITIVE_INFINITY], counts: [2, 6, 10, 10] });
    // rank 5 of 10 falls in (1, 2] holding 4, 3 of them: 1 + 3/4
    expect(histogramQuantile(0.5, scans)).toBeCloseTo(1.75);
    // rank 9.5 in (2, 5] holding 4, 3.5 of them
    expect(histogramQuantile(0.95, scans)).toBeCloseTo(2 + (3 * 3.5) / 4);
    expect(histogramQuantile(0.1, scans)).toBeCloseTo(0.5);
    const all = histogramOf(samples, 'flowwatch_detector_detection_latency_seconds');
    expect(all.counts).toEqual([2, 6, 11, 12]);
    // the last sample is in +Inf: the highest finite bound
    expect(histogramQuantile(1, all)).toBe(5);
    expect(bucketCounts(all)).toEqual({ '0-1': 2, '1-2': 4, '2-5': 5, '5-+Inf': 1 });
    expect(histogramQuantile(0.5, { le: [1, Number.POSITIVE_INFINITY], counts: [0, 0] })).toBeNaN();
  });

  it('fits a least-squares slope', () => {
    expect(
      leastSquaresSlope([
        [0, 1],
        [1, 3],
        [2, 5],
      ]),
    ).toBeCloseTo(2);
    // noise around a flat line
    expect(
      leastSquaresSlope([
        [0, 10],
        [1, 12],
        [2, 8],
        [3, 10],
      ]),
    ).toBeCloseTo(-0.4);
    expect(leastSquaresSlope([[1, 1]])).toBeNaN();
    expect(
      leastSquaresSlope([
        [1, 1],
        [1, 2],
      ]),
    ).toBeNaN();
  });
});

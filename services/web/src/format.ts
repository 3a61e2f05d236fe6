const UNITS = ['', 'k', 'M', 'G', 'T', 'P'];

/** 1234567 -> "1.23 M" */
export function si(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return '–';
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  // Trailing zeros go only after a decimal point: 500 stays 500 (it once read "5").
  const text =
    v === 0
      ? '0'
      : v
          .toPrecision(digits)
          .replace(/(\.\d*?)0+$/, '$1')
          .replace(/\.$/, '');
  return `${n < 0 ? '-' : ''}${text}${UNITS[i] ? ` ${UNITS[i]}` : ''}`;
}

export const bps = (bitsPerSecond: number) => `${si(bitsPerSecond)}bit/s`;
export const bytes = (b: number) => `${si(b)}B`;
export const count = (n: number) => n.toLocaleString('en-GB');

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** "21 Nov 10:05:01" in the browser's zone, with the UTC time in the title. */
export function time(iso: string): string {
  return new Date(iso).toLocaleString('en-GB', { day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

export const PROTOCOLS: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 47: 'GRE', 50: 'ESP', 58: 'ICMPv6', 132: 'SCTP' };
export const proto = (n: number) => PROTOCOLS[n] ?? String(n);

export const TYPE_NAMES: Record<string, string> = {
  volume_spike: 'Volume spike',
  volume_drop: 'Volume drop',
  telemetry_silence: 'Telemetry silence',
  port_scan: 'Port scan',
  host_sweep: 'Host sweep',
  flood: 'Flood',
  syn_flood: 'SYN flood',
  amplification: 'Amplification',
  lateral_movement: 'Lateral movement',
  exfiltration: 'Exfiltration',
  new_pair: 'New pair',
  blocklist: 'Blocklist',
  policy: 'Policy',
};

/** Display helpers for the views. */
export function bytes(n: number): string {
  if (n <= 0) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return `${(n / 1024 ** i).toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function shortId(id: string): string {
  const [device = '', tab = ''] = id.split('-');
  return `${device.slice(0, 6)}…-${tab.slice(0, 4)}`;
}

export function ms(v: number | undefined): string {
  return v === undefined ? '—' : v < 10 ? `${v.toFixed(2)} ms` : `${Math.round(v)} ms`;
}

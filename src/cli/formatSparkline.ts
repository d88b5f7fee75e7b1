const BARS = '▁▂▃▄▅▆▇█';

/**
 * One character per value: a space for 0, else one of eight bars scaled to the largest value (any value
 * above zero shows at least the lowest bar, so a day of little use is not mistaken for none).
 */
export function formatSparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((value) => (value <= 0 ? ' ' : (BARS[Math.min(7, Math.floor((value / max) * 7.999))] ?? '█')))
    .join('');
}

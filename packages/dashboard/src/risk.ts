// Risk-sizing preview: the same formula as the server (functions/signals/risk.ts, which decides),
// replicated here so the page shows the lots before the signal is sent. A test checks that both give
// the same answer on random inputs.
//
//   volume = floor_to_step( (equity × risk% / 100) / ( |entry − stop_loss| / tick_size × tick_value ) ), ≤ volume_max

export interface SymbolSpec {
  tick_size: number;
  tick_value: number;
  volume_min: number;
  volume_max: number;
  volume_step: number;
}

export type RiskPreview =
  | { ok: true; volume: number; riskAmount: number; lossPerLot: number; cappedAtMax: boolean }
  | { ok: false; message: string };

function decimalPlaces(x: number): number {
  const [mantissa = '', exponent] = String(Math.abs(x)).toLowerCase().split('e');
  const fraction = mantissa.split('.')[1]?.length ?? 0;
  return Math.max(0, fraction - (exponent ? Number(exponent) : 0));
}

/** Values as integers of 10^-places (exact decimal arithmetic), or undefined beyond safe integers. */
function scaled(values: readonly number[]): { ints: number[]; places: number } | undefined {
  const places = Math.max(...values.map(decimalPlaces));
  if (places > 15) return undefined;
  const ints = values.map((v) => Math.round(v * 10 ** places));
  return ints.every(Number.isSafeInteger) ? { ints, places } : undefined;
}

function distance(a: number, b: number): number {
  const s = scaled([a, b]);
  if (!s) return Math.abs(a - b);
  const [x = 0, y = 0] = s.ints;
  return Number((Math.abs(x - y) / 10 ** s.places).toFixed(s.places));
}

function wholeSteps(value: number, step: number): number {
  if (!(value > 0)) return 0;
  const s = scaled([value, step]);
  if (s) {
    const [v = 0, st = 1] = s.ints;
    return Math.floor(v / st);
  }
  const q = value / step;
  const n = Math.round(q);
  return Math.abs(q - n) <= 1e-9 * Math.max(1, Math.abs(q)) ? n : Math.floor(q);
}

export function previewRisk(equity: number, riskPercent: number, entry: number, stopLoss: number, spec: SymbolSpec): RiskPreview {
  const d = distance(entry, stopLoss);
  if (!(d > 0)) return { ok: false, message: 'the stop-loss is at the entry price' };
  const riskAmount = (equity * riskPercent) / 100;
  if (!(riskAmount > 0)) return { ok: false, message: `equity ${equity} leaves nothing to risk` };
  const lossPerLot = (d / spec.tick_size) * spec.tick_value;
  const maxSteps = wholeSteps(spec.volume_max, spec.volume_step);
  const wanted = wholeSteps(riskAmount / lossPerLot, spec.volume_step);
  const steps = Math.min(wanted, maxSteps);
  const volume = Number((steps * spec.volume_step).toFixed(decimalPlaces(spec.volume_step)));
  if (steps === 0 || volume < spec.volume_min) {
    return { ok: false, message: `too small for the minimum lot (${spec.volume_min}): ${(riskAmount / lossPerLot).toFixed(4)} lots` };
  }
  return { ok: true, volume, riskAmount, lossPerLot, cappedAtMax: wanted > maxSteps };
}

// Lot sizing and volume checks: pure functions, no I/O.
//
// Binary floating point cannot hold 0.1 or 0.01 exactly, so naive lot arithmetic goes wrong at the
// edges: 0.3 / 0.01 is 29.999999999999996 in IEEE-754 and Math.floor of it gives 29 steps (0.29
// lots) where a trader expects 0.30. Here decimal inputs are compared and subtracted as scaled
// integers, lots are counted in whole steps, and results are rebuilt from the step's decimal
// representation, so the numbers that leave this module are the ones a human would write.

/** What risk sizing and volume checks need from a symbol's specification (SYMBOL_* values reported by the EA). */
export interface VolumeSpec {
  volume_min: number;
  volume_max: number;
  volume_step: number;
}
export interface RiskSpec extends VolumeSpec {
  tick_size: number;
  tick_value: number;
}

/** Number of decimal places in the shortest representation of `x` (0.01 → 2, 1e-7 → 7, 150 → 0). */
export function decimalPlaces(x: number): number {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`);
  const [mantissa = '', exponent] = String(Math.abs(x)).toLowerCase().split('e');
  const fraction = mantissa.split('.')[1]?.length ?? 0;
  return Math.max(0, fraction - (exponent ? Number(exponent) : 0));
}

/**
 * The values as integers in units of 10^-places, where `places` covers every value's decimals, or
 * undefined when that would leave the range of exactly representable integers.
 */
function toScaledIntegers(values: readonly number[]): { ints: number[]; places: number } | undefined {
  const places = Math.max(...values.map(decimalPlaces));
  if (places > 15) return undefined;
  const factor = 10 ** places;
  const ints = values.map((v) => Math.round(v * factor));
  return ints.every(Number.isSafeInteger) ? { ints, places } : undefined;
}

/** |a − b| computed exactly on the decimal values (1.1 − 1.095 is 0.005, not 0.0050000000000001155). */
export function decimalDistance(a: number, b: number): number {
  const scaled = toScaledIntegers([a, b]);
  if (!scaled) return Math.abs(a - b);
  const [x = 0, y = 0] = scaled.ints;
  return Number((Math.abs(x - y) / 10 ** scaled.places).toFixed(scaled.places));
}

/**
 * How many whole `step`s fit in `value`. A quotient within a relative 1e-9 of an integer counts as
 * that integer, so representation noise (29.999999999999996) does not lose a step.
 */
export function wholeSteps(value: number, step: number): number {
  if (!(step > 0)) throw new RangeError('step must be positive');
  if (!(value > 0)) return 0;
  const scaled = toScaledIntegers([value, step]);
  if (scaled) {
    const [v = 0, s = 1] = scaled.ints;
    return Math.floor(v / s);
  }
  const quotient = value / step;
  const nearest = Math.round(quotient);
  return Math.abs(quotient - nearest) <= 1e-9 * Math.max(1, Math.abs(quotient)) ? nearest : Math.floor(quotient);
}

/** `steps × step`, written with the step's decimals (3 × 0.1 is 0.3, not 0.30000000000000004). */
export function stepsToVolume(steps: number, step: number): number {
  return Number((steps * step).toFixed(decimalPlaces(step)));
}

/** Largest multiple of `step` that is ≤ `value`, e.g. floorToStep(0.674896, 0.01) = 0.67. */
export function floorToStep(value: number, step: number): number {
  return stepsToVolume(wholeSteps(value, step), step);
}

/** Whether `value` is an exact multiple of `step`, judged on their decimal values. */
export function isMultipleOfStep(value: number, step: number): boolean {
  const scaled = toScaledIntegers([value, step]);
  if (scaled) {
    const [v = 0, s = 1] = scaled.ints;
    return v % s === 0;
  }
  const quotient = value / step;
  return Math.abs(quotient - Math.round(quotient)) <= 1e-9 * Math.max(1, Math.abs(quotient));
}

/** Why `volume` cannot be traded on a symbol with this specification, or null when it can. */
export function volumeProblem(volume: number, spec: VolumeSpec): string | null {
  if (volume < spec.volume_min) return `volume ${volume} is below the symbol's minimum of ${spec.volume_min} lots`;
  if (volume > spec.volume_max) return `volume ${volume} is above the symbol's maximum of ${spec.volume_max} lots`;
  if (!isMultipleOfStep(volume, spec.volume_step)) return `volume ${volume} is not a multiple of the symbol's volume step ${spec.volume_step}`;
  return null;
}

export interface RiskSizingInput {
  /** Account equity in the account currency. */
  equity: number;
  /** Percent of equity to lose if the stop-loss is hit (1 = 1 %). */
  riskPercent: number;
  entryPrice: number;
  stopLoss: number;
  spec: RiskSpec;
}

export type RiskSizing =
  | {
      ok: true;
      /** Lots to trade: floored to the volume step, at most volume_max. */
      volume: number;
      /** Money at risk as requested: equity × risk% / 100. */
      riskAmount: number;
      /** Stop-loss distance in ticks. */
      ticks: number;
      /** Loss of one lot at the stop-loss, in the account currency. */
      lossPerLot: number;
      /** The exact (unrounded) lot size the risk asks for. */
      rawVolume: number;
      /** True when volume_max capped the size (the real risk is then below the request). */
      cappedAtMax: boolean;
    }
  | { ok: false; reason: 'no_stop_distance' | 'no_equity' | 'below_minimum'; message: string; rawVolume: number };

/**
 * Lots for a trade that loses `riskPercent` of `equity` at the stop-loss:
 *
 *   volume = floor_to_step( (equity × risk% / 100) / ( |entry − stop_loss| / tick_size × tick_value ) )
 *
 * capped at volume_max. A result below volume_min is refused rather than rounded up: rounding up
 * would risk more than the trader asked for.
 */
export function sizeByRisk(input: RiskSizingInput): RiskSizing {
  const { equity, riskPercent, entryPrice, stopLoss, spec } = input;
  const distance = decimalDistance(entryPrice, stopLoss);
  if (!(distance > 0)) {
    return { ok: false, reason: 'no_stop_distance', message: 'the stop-loss is at the entry price: nothing to size against', rawVolume: 0 };
  }
  const riskAmount = (equity * riskPercent) / 100;
  if (!(riskAmount > 0)) {
    return { ok: false, reason: 'no_equity', message: `the session's equity (${equity}) leaves nothing to risk`, rawVolume: 0 };
  }
  const ticks = distance / spec.tick_size;
  const lossPerLot = ticks * spec.tick_value;
  const rawVolume = riskAmount / lossPerLot;
  const maxSteps = wholeSteps(spec.volume_max, spec.volume_step);
  const wanted = wholeSteps(rawVolume, spec.volume_step);
  const steps = Math.min(wanted, maxSteps);
  const volume = stepsToVolume(steps, spec.volume_step);
  if (steps === 0 || volume < spec.volume_min) {
    return {
      ok: false,
      reason: 'below_minimum',
      message:
        `risk too small for the minimum lot: ${riskPercent}% of ${equity} is ${round(riskAmount)} at risk, one lot loses ` +
        `${round(lossPerLot)} at the stop-loss, so the size would be ${round(rawVolume, 6)} lots, below the minimum of ${spec.volume_min}`,
      rawVolume,
    };
  }
  return { ok: true, volume, riskAmount, ticks, lossPerLot, rawVolume, cappedAtMax: wanted > maxSteps };
}

function round(x: number, places = 2): number {
  return Number(x.toFixed(places));
}

//+------------------------------------------------------------------+
//| Rubi/Risk.mqh: lot sizing and volume normalisation, exactly as the server does it               |
//| (functions/signals/risk.ts, same functions, same worked examples). MQL4 and MQL5; pure logic.   |
//|                                                                                                  |
//| Binary doubles cannot hold 0.1 or 0.01: 0.58 / 0.01 is 57.99999999999999 and a naive floor      |
//| loses a step. Values are compared as scaled integers at their decimal precision, lots are      |
//| counted in whole steps and rebuilt from the step's decimals, so 3 x 0.1 gives 0.3.              |
//|                                                                                                  |
//|   RubiNormalizeVolume(volume, spec, out, reason)  what the EA does with a signal's volume on its  |
//|        broker's symbol: floor to the step, cap at the maximum, refuse (never round up) below the |
//|        minimum                                                                                   |
//|   RubiSizeByRisk(...)                             risk.ts sizeByRisk                             |
//| JavaScript's toFixed is reproduced (RubiToFixed), exact ties included.                          |
//+------------------------------------------------------------------+
#ifndef RUBI_RISK_MQH
#define RUBI_RISK_MQH

#include <Rubi/Text.mqh>

#define RUBI_MAX_SAFE_INTEGER 9007199254740991.0

struct RubiVolumeSpec
  {
   double            volume_min;
   double            volume_max;
   double            volume_step;
  };

struct RubiRiskSpec
  {
   double            tick_size;
   double            tick_value;
   double            volume_min;
   double            volume_max;
   double            volume_step;
  };

struct RubiRiskSizing
  {
   bool              ok;
   string            reason;       // ok=false: "no_stop_distance", "no_equity" or "below_minimum"
   string            message;
   double            volume;
   double            risk_amount;
   double            ticks;
   double            loss_per_lot;
   double            raw_volume;
   bool              capped_at_max;
  };

// 10^p for p = 0..22, exact (each product of 10s is representable up to 1e22).
double RubiPow10(const int p)
  {
   double f = 1;
   for(int i = 0; i < p; i++)
      f *= 10;
   return f;
  }

// JavaScript's Math.round: halves go up (towards +infinity). Not floor(x + 0.5): from 2^52 on, x + 0.5
// is itself rounded (to even) and can add one to an integer.
double RubiJsRound(const double x)
  {
   double f = MathFloor(x);
   return x - f >= 0.5 ? f + 1 : f;
  }

// Number(x.toFixed(places)) for places 0..16. JavaScript resolves an exact tie (x exactly half way
// between two candidates, e.g. 80942.125 to 2 places) away from zero; printf-style formatting may
// round it to even, so ties are detected and resolved here: x is a tie only when x * 2^(places+1)
// is an integer (a dyadic value) and x * 10^places, then computed exactly, ends in .5.
double RubiToFixed(const double x, const int places)
  {
   double a = MathAbs(x);
   double two = 1;
   for(int i = 0; i <= places; i++)
      two *= 2;
   double y = a * two;
   if(MathFloor(y) == y)
     {
      double z = a * RubiPow10(places);
      if(z < 4503599627370496.0 && z - MathFloor(z) == 0.5)
        {
         double r = (MathFloor(z) + 1) / RubiPow10(places);
         return x < 0 ? -r : r;
        }
     }
   return StringToDouble(DoubleToString(x, places));
  }

// Decimal places of the shortest representation of |x| (0.01 -> 2, 1e-7 -> 7, 150 -> 0); 17 when
// more than 16 (e.g. 0.30000000000000004); -1 when x is not finite.
int RubiDecimalPlaces(const double x)
  {
   if(!MathIsValidNumber(x))
      return -1;
   double a = MathAbs(x);
   for(int p = 0; p <= 16; p++)
      if(StringToDouble(DoubleToString(a, p)) == a)
         return p;
   return 17;
  }

// a and b as integers in units of 10^-places (places covers both); false when that leaves the
// exactly representable integers (risk.ts toScaledIntegers).
bool RubiScaled(const double a, const double b, double &ia, double &ib, int &places)
  {
   places = MathMax(RubiDecimalPlaces(a), RubiDecimalPlaces(b));
   if(places > 15 || places < 0)
      return false;
   double factor = RubiPow10(places);
   ia = RubiJsRound(a * factor);
   ib = RubiJsRound(b * factor);
   return MathAbs(ia) <= RUBI_MAX_SAFE_INTEGER && MathAbs(ib) <= RUBI_MAX_SAFE_INTEGER;
  }

// |a - b| computed on the decimal values (1.1 - 1.095 is 0.005).
double RubiDecimalDistance(const double a, const double b)
  {
   double x = 0, y = 0;
   int places = 0;
   if(!RubiScaled(a, b, x, y, places))
      return MathAbs(a - b);
   return RubiToFixed(MathAbs(x - y) / RubiPow10(places), places);
  }

// How many whole `step`s fit in `value` (-1 when step is not positive).
double RubiWholeSteps(const double value, const double step)
  {
   if(!(step > 0))
      return -1;
   if(!(value > 0))
      return 0;
   double v = 0, s = 1;
   int places = 0;
   if(RubiScaled(value, step, v, s, places))
      return MathFloor(v / s);
   double quotient = value / step;
   double nearest = RubiJsRound(quotient);
   return MathAbs(quotient - nearest) <= 1e-9 * MathMax(1.0, MathAbs(quotient)) ? nearest : MathFloor(quotient);
  }

// steps x step written with the step's decimals (3 x 0.1 is 0.3).
double RubiStepsToVolume(const double steps, const double step)
  {
   int places = RubiDecimalPlaces(step);
   return RubiToFixed(steps * step, places > 16 ? 16 : places);
  }

// Largest multiple of `step` not above `value` (0.674896 -> 0.67 for 0.01).
double RubiFloorToStep(const double value, const double step) { return RubiStepsToVolume(RubiWholeSteps(value, step), step); }

bool RubiIsMultipleOfStep(const double value, const double step)
  {
   double v = 0, s = 1;
   int places = 0;
   if(RubiScaled(value, step, v, s, places))
      return MathMod(v, s) == 0;
   double quotient = value / step;
   return MathAbs(quotient - RubiJsRound(quotient)) <= 1e-9 * MathMax(1.0, MathAbs(quotient));
  }

// Why `volume` cannot be traded with this spec, or "" when it can (risk.ts volumeProblem, same words).
string RubiVolumeProblem(const double volume, const RubiVolumeSpec &spec)
  {
   if(volume < spec.volume_min)
      return "volume " + RubiNumber(volume) + " is below the symbol's minimum of " + RubiNumber(spec.volume_min) + " lots";
   if(volume > spec.volume_max)
      return "volume " + RubiNumber(volume) + " is above the symbol's maximum of " + RubiNumber(spec.volume_max) + " lots";
   if(!RubiIsMultipleOfStep(volume, spec.volume_step))
      return "volume " + RubiNumber(volume) + " is not a multiple of the symbol's volume step " + RubiNumber(spec.volume_step);
   return "";
  }

// A requested volume made tradable: floored to the step, capped at the maximum. False (with
// `reason`) when that leaves less than the minimum: rounding up would risk more than asked.
bool RubiNormalizeVolume(const double volume, const RubiVolumeSpec &spec, double &out, string &reason)
  {
   out = 0;
   reason = "";
   if(!(spec.volume_step > 0) || !(spec.volume_max >= spec.volume_min))
     {
      reason = "the symbol's volume specification is invalid";
      return false;
     }
   double steps = MathMin(RubiWholeSteps(volume, spec.volume_step), RubiWholeSteps(spec.volume_max, spec.volume_step));
   double v = RubiStepsToVolume(steps, spec.volume_step);
   if(steps <= 0 || v < spec.volume_min)
     {
      reason = "volume " + RubiNumber(volume) + " is below the symbol's minimum of " + RubiNumber(spec.volume_min) + " lots";
      return false;
     }
   out = v;
   return true;
  }

// Lots that lose `risk_percent` of `equity` at the stop-loss (risk.ts sizeByRisk):
//   volume = floor_to_step( (equity x risk% / 100) / ( |entry - stop_loss| / tick_size x tick_value ) )
// capped at volume_max; below volume_min is refused, never rounded up.
void RubiSizeByRisk(const double equity, const double risk_percent, const double entry_price, const double stop_loss,
                    const RubiRiskSpec &spec, RubiRiskSizing &r)
  {
   r.ok = false;
   r.reason = "";
   r.message = "";
   r.volume = 0;
   r.risk_amount = 0;
   r.ticks = 0;
   r.loss_per_lot = 0;
   r.raw_volume = 0;
   r.capped_at_max = false;
   double distance = RubiDecimalDistance(entry_price, stop_loss);
   if(!(distance > 0))
     {
      r.reason = "no_stop_distance";
      r.message = "the stop-loss is at the entry price: nothing to size against";
      return;
     }
   double risk_amount = (equity * risk_percent) / 100;
   if(!(risk_amount > 0))
     {
      r.reason = "no_equity";
      r.message = "the session's equity (" + RubiNumber(equity) + ") leaves nothing to risk";
      return;
     }
   double ticks = distance / spec.tick_size;
   double loss_per_lot = ticks * spec.tick_value;
   double raw_volume = risk_amount / loss_per_lot;
   double max_steps = RubiWholeSteps(spec.volume_max, spec.volume_step);
   double wanted = RubiWholeSteps(raw_volume, spec.volume_step);
   double steps = MathMin(wanted, max_steps);
   double volume = RubiStepsToVolume(steps, spec.volume_step);
   r.raw_volume = raw_volume;
   if(steps == 0 || volume < spec.volume_min)
     {
      r.reason = "below_minimum";
      r.message = "risk too small for the minimum lot: " + RubiNumber(risk_percent) + "% of " + RubiNumber(equity) + " is " +
                  RubiNumber(RubiToFixed(risk_amount, 2)) + " at risk, one lot loses " + RubiNumber(RubiToFixed(loss_per_lot, 2)) +
                  " at the stop-loss, so the size would be " + RubiNumber(RubiToFixed(raw_volume, 6)) + " lots, below the minimum of " +
                  RubiNumber(spec.volume_min);
      return;
     }
   r.ok = true;
   r.volume = volume;
   r.risk_amount = risk_amount;
   r.ticks = ticks;
   r.loss_per_lot = loss_per_lot;
   r.capped_at_max = wanted > max_steps;
  }

#endif

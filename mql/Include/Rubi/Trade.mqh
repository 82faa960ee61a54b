//+------------------------------------------------------------------+
//| Rubi/Trade.mqh: order helpers for the EAs, pure logic over Rubi/Terminal.mqh types (MQL4/MQL5). |
//|                                                                                                  |
//|   RubiTagComment      the comment put on an order: "<prefix> <id>", cut to RUBI_MAX_COMMENT     |
//|   RubiFindDeal        the newest IN deal with a magic number and comment tag (after a restart:  |
//|                       did the order for this signal go through?); RubiFindPosition likewise     |
//|   RubiStopsProblem    why SL/TP are too close to the market for the symbol's stops level         |
//|   RubiVolumeSpecOf    the volume part of a symbol spec, for Rubi/Risk.mqh                         |
//|   RubiServerOffset    the trade server's offset from UTC (rounded to 15 minutes), to convert     |
//|                       deal and position times to UTC                                             |
//| The filling mode is chosen by RubiFillingFor (Rubi/Terminal.mqh).                                |
//+------------------------------------------------------------------+
#ifndef RUBI_TRADE_MQH
#define RUBI_TRADE_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Terminal.mqh>
#include <Rubi/Risk.mqh>

#define RUBI_MAX_COMMENT 31

// "<prefix> <id>" cut to RUBI_MAX_COMMENT characters (brokers keep at most 31).
string RubiTagComment(const string prefix, const string id)
  {
   string tag = prefix == "" ? id : prefix + " " + id;
   return StringLen(tag) > RUBI_MAX_COMMENT ? StringSubstr(tag, 0, RUBI_MAX_COMMENT) : tag;
  }

// A comment carries `tag` when equal to it or starting with it (some brokers append to comments).
bool RubiCommentHasTag(const string comment, const string tag)
  {
   return tag != "" && (comment == tag || RubiStartsWith(comment, tag));
  }

// Index of the newest IN (or IN/OUT) trade deal with this magic (any magic when negative) and
// comment tag at or after `since`, or -1.
int RubiFindDeal(const RubiDeal &deals[], const long magic, const string tag, const datetime since)
  {
   int found = -1;
   int n = ArraySize(deals);
   for(int i = 0; i < n; i++)
     {
      if(deals[i].type == RUBI_DEAL_OTHER || (magic >= 0 && deals[i].magic != magic) || deals[i].time < since)
         continue;
      if(deals[i].entry != RUBI_ENTRY_IN && deals[i].entry != RUBI_ENTRY_INOUT)
         continue;
      if(!RubiCommentHasTag(deals[i].comment, tag))
         continue;
      if(found < 0 || deals[i].time >= deals[found].time)
         found = i;
     }
   return found;
  }

// Index of an open position with this magic (any magic when negative) and comment tag, or -1.
int RubiFindPosition(const RubiPosition &positions[], const long magic, const string tag)
  {
   int n = ArraySize(positions);
   for(int i = 0; i < n; i++)
      if((magic < 0 || positions[i].magic == magic) && RubiCommentHasTag(positions[i].comment, tag))
         return i;
   return -1;
  }

// Why a market order with these stops would be refused for being too close (SYMBOL_TRADE_STOPS_LEVEL
// points from the price it closes at: bid for a buy, ask for a sell) or on the wrong side; "" when
// the stops are acceptable. 0 means no stop.
string RubiStopsProblem(const RubiSymbolSpec &spec, const int side, const double sl, const double tp)
  {
   double close_price = side == RUBI_BUY ? spec.bid : spec.ask;
   double gap = spec.stops_level * spec.point;
   // Exactly at the level is allowed; half a point absorbs binary rounding (1022.61 + 7 x 0.01 is
   // 1022.6800000000001, above a stop-loss of 1022.68 that the trade server accepts).
   double eps = spec.point > 0 ? spec.point / 2 : 0.0000000001;
   int digits = spec.digits;
   if(sl > 0)
     {
      if(side == RUBI_BUY && sl > close_price - gap + eps)
         return "stop-loss " + RubiNumberDigits(sl, digits) + " must be at most " + RubiNumberDigits(close_price - gap, digits) +
                " (bid " + RubiNumberDigits(close_price, digits) + ", stops level " + IntegerToString(spec.stops_level) + " points)";
      if(side == RUBI_SELL && sl < close_price + gap - eps)
         return "stop-loss " + RubiNumberDigits(sl, digits) + " must be at least " + RubiNumberDigits(close_price + gap, digits) +
                " (ask " + RubiNumberDigits(close_price, digits) + ", stops level " + IntegerToString(spec.stops_level) + " points)";
     }
   if(tp > 0)
     {
      if(side == RUBI_BUY && tp < close_price + gap - eps)
         return "take-profit " + RubiNumberDigits(tp, digits) + " must be at least " + RubiNumberDigits(close_price + gap, digits) +
                " (bid " + RubiNumberDigits(close_price, digits) + ", stops level " + IntegerToString(spec.stops_level) + " points)";
      if(side == RUBI_SELL && tp > close_price - gap + eps)
         return "take-profit " + RubiNumberDigits(tp, digits) + " must be at most " + RubiNumberDigits(close_price - gap, digits) +
                " (ask " + RubiNumberDigits(close_price, digits) + ", stops level " + IntegerToString(spec.stops_level) + " points)";
     }
   return "";
  }

void RubiVolumeSpecOf(const RubiSymbolSpec &spec, RubiVolumeSpec &out)
  {
   out.volume_min = spec.volume_min;
   out.volume_max = spec.volume_max;
   out.volume_step = spec.volume_step;
  }

// Offset of the trade server's clock from UTC in seconds, rounded to 15 minutes (server times are
// whole quarter hours from UTC; the rounding absorbs clock skew). UTC = server time - offset.
int RubiServerOffset(const datetime server_now, const datetime gmt_now)
  {
   long diff = (long)server_now - (long)gmt_now;
   long quarter = diff >= 0 ? (diff + 450) / 900 : -((-diff + 450) / 900);
   return (int)(quarter * 900);
  }

#endif

// mql/host/stdlib/Trade/Trade.mqh: HOST-ONLY STAND-IN for MetaTrader 5's standard library <Trade\Trade.mqh>.
//
// Declarations only (no definitions), with the signatures of MQL5's CTrade, so that the host syntax pass
// (`g++ -fsyntax-only`, mql/host/build.ts syntaxCheck, tests/unit/mql-syntax.test.ts) checks every CTrade
// call in mql/Include/Rubi/Terminal.mqh: a misspelt method, a wrong argument type or count, or using the
// result of a `void` method fails the pass. Only the syntax pass has this folder on its include path; host
// test programs (-DRUBI_HOST) never include it, and it is NEVER copied into a terminal: every MetaTrader 5
// ships the real file in MQL5/Include/Trade/. It is plain C++ (not passed through rewrite.mjs).
//
// Extend it with the real signature when the MQL code needs another CTrade member. MQL5 only: MT4 has no CTrade.
#pragma once

#ifndef __MQL5__
#error "<Trade/Trade.mqh> (CTrade) is MQL5 only: MetaTrader 4 has no CTrade"
#endif

#include <climits>  // ULONG_MAX, an MQL5 predefined constant

// Defined by the real Trade.mqh itself.
enum ENUM_LOG_LEVELS { LOG_LEVEL_NO = 0, LOG_LEVEL_ERRORS = 1, LOG_LEVEL_ALL = 2 };

class CTrade {
 public:
  CTrade(void);
  ~CTrade(void);
  //--- settings
  void LogLevel(const ENUM_LOG_LEVELS log_level);
  void SetAsyncMode(const bool mode);
  void SetExpertMagicNumber(const ulong magic);
  void SetDeviationInPoints(const ulong deviation);
  void SetTypeFilling(const ENUM_ORDER_TYPE_FILLING filling);  // void in MetaQuotes' CTrade: use no result
  bool SetTypeFillingBySymbol(const string symbol);
  //--- the last request's result
  uint ResultRetcode(void) const;
  string ResultRetcodeDescription(void) const;
  int ResultRetcodeExternal(void) const;
  ulong ResultDeal(void) const;
  ulong ResultOrder(void) const;
  double ResultVolume(void) const;
  double ResultPrice(void) const;
  double ResultBid(void) const;
  double ResultAsk(void) const;
  string ResultComment(void) const;
  //--- positions
  bool PositionOpen(const string symbol, const ENUM_ORDER_TYPE order_type, const double volume, const double price, const double sl,
                    const double tp, const string comment = "");
  bool PositionModify(const string symbol, const double sl, const double tp);
  bool PositionModify(const ulong ticket, const double sl, const double tp);
  bool PositionClose(const string symbol, const ulong deviation = ULONG_MAX);
  bool PositionClose(const ulong ticket, const ulong deviation = ULONG_MAX);
  bool PositionClosePartial(const string symbol, const double volume, const ulong deviation = ULONG_MAX);  // hedging accounts only
  bool PositionClosePartial(const ulong ticket, const double volume, const ulong deviation = ULONG_MAX);   // hedging accounts only
  //--- market orders (price 0: the current Ask / Bid)
  bool Buy(const double volume, const string symbol = NULL, double price = 0.0, const double sl = 0.0, const double tp = 0.0,
           const string comment = "");
  bool Sell(const double volume, const string symbol = NULL, double price = 0.0, const double sl = 0.0, const double tp = 0.0,
            const string comment = "");
};

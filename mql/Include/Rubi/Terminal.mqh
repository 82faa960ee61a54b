//+------------------------------------------------------------------+
//| Rubi/Terminal.mqh: the small interface through which EA logic reaches the terminal.             |
//|                                                                                                  |
//| Logic includes (Connector.mqh, TradeSync.mqh, Http.mqh, ...) call only the Term* functions      |
//| below for clock, sleeping, account, symbols, orders, positions and history; files go through    |
//| Rubi/Files.mqh (plain MQL File* calls, emulated on the host). Three implementations:            |
//|   __MQL5__      the real MetaTrader 5 calls (netting and hedging accounts)                      |
//|   __MQL4__      the real MetaTrader 4 calls                                                     |
//|   RUBI_HOST     declarations only: the host test build links mql/host/sim_terminal.hpp, a       |
//|                 simulated terminal the C++ tests drive (clock, quotes, fills, rejections, ...)  |
//|                                                                                                  |
//| Conventions: times are datetimes; TermTimeGmt is UTC, trade times (positions, deals) are the    |
//| trade server's clock as MetaTrader reports them (convert with RubiServerOffset in Trade.mqh).   |
//| TermConnected: the terminal has a connection to the trade server (MT5 TerminalInfoInteger(       |
//| TERMINAL_CONNECTED), MT4 IsConnected()); TradeSync reports it as broker_connected (issue #16).  |
//| TermHistoryPositionDeals: all deals of one position (MT5 HistorySelectByPosition; MT4 the closed |
//| order's IN + OUT pair).                                                                          |
//| TermOrderComments: the comments of the account's orders for the ownership proof (TradeSync.mqh): |
//| the pending orders open now and the orders in the history since `from` (deleted pending orders  |
//| are history orders on both platforms).                                                          |
//| Tickets are `long`. Sides are RUBI_BUY / RUBI_SELL. An order result has ok=true when the trade  |
//| server filled it; retcode is MqlTradeResult.retcode on MT5 (10009 done) and the GetLastError()  |
//| code on MT4 (0 on success); retcode 0 with ok=false means the order could not even be sent.    |
//+------------------------------------------------------------------+
#ifndef RUBI_TERMINAL_MQH
#define RUBI_TERMINAL_MQH

#define RUBI_BUY  0
#define RUBI_SELL 1

// Deal kinds and entries (MT5 DEAL_TYPE_* / DEAL_ENTRY_* reduced to what trade sync needs).
#define RUBI_DEAL_BUY    0
#define RUBI_DEAL_SELL   1
#define RUBI_DEAL_OTHER  2   // balance, credit, commission, ...: not a trade
#define RUBI_ENTRY_IN     0
#define RUBI_ENTRY_OUT    1
#define RUBI_ENTRY_INOUT  2
#define RUBI_ENTRY_OUT_BY 3

// Why a deal happened (MT5 DEAL_REASON_* reduced to what the connector needs; MT4 reports none).
#define RUBI_DEAL_REASON_UNKNOWN -1  // MT4: the terminal does not say
#define RUBI_DEAL_REASON_OTHER    0  // by hand (desktop, mobile, web), stop out, rollover, ...
#define RUBI_DEAL_REASON_EXPERT   1  // an EA or script (DEAL_REASON_EXPERT)
#define RUBI_DEAL_REASON_SL       2  // the position's stop loss (DEAL_REASON_SL)
#define RUBI_DEAL_REASON_TP       3  // the position's take profit (DEAL_REASON_TP)

// How an order is filled (MT5 ENUM_ORDER_TYPE_FILLING); RUBI_FILLING_AUTO: chosen from the symbol.
#define RUBI_FILLING_AUTO   -1
#define RUBI_FILLING_FOK     0
#define RUBI_FILLING_IOC     1
#define RUBI_FILLING_RETURN  2

// SYMBOL_FILLING_MODE flags (MT5 values; MT4 reports none).
#define RUBI_SYMBOL_FILLING_FOK 1
#define RUBI_SYMBOL_FILLING_IOC 2

struct RubiAccount
  {
   long              login;
   string            server;
   string            broker;        // ACCOUNT_COMPANY
   string            currency;
   long              leverage;
   double            balance;
   double            equity;
   double            margin;
   double            margin_free;
   double            margin_level;  // percent; 0 when no margin is used
   double            profit;
   bool              trade_allowed; // terminal, EA and account all allow trading
  };

struct RubiSymbolSpec
  {
   string            symbol;
   int               digits;
   double            point;
   double            tick_size;
   double            tick_value;    // in the account currency
   double            contract_size;
   double            volume_min;
   double            volume_max;
   double            volume_step;
   int               stops_level;   // points
   int               freeze_level;  // points
   int               filling_flags; // RUBI_SYMBOL_FILLING_* bits
   bool              trade_allowed; // SYMBOL_TRADE_MODE is not disabled / close-only
   double            bid;
   double            ask;
  };

struct RubiOrderRequest
  {
   string            symbol;
   int               side;          // RUBI_BUY / RUBI_SELL
   double            volume;
   double            sl;            // 0: none
   double            tp;            // 0: none
   int               deviation;     // points of slippage accepted
   long              magic;
   string            comment;       // at most RUBI_MAX_COMMENT characters are kept by brokers
   int               filling;       // RUBI_FILLING_*
  };

struct RubiOrderResult
  {
   bool              ok;
   int               retcode;
   long              order;
   long              deal;
   long              position;      // MT5 position id; MT4 the order ticket
   double            price;
   double            volume;
   datetime          time;          // trade server time
   string            message;
  };

struct RubiPosition
  {
   long              ticket;
   string            symbol;
   int               side;
   double            volume;
   double            open_price;
   double            current_price;
   double            sl;
   double            tp;
   datetime          open_time;     // trade server time
   double            profit;
   double            swap;
   double            commission;    // MT4 only (MT5 books it on deals)
   long              magic;
   string            comment;
  };

struct RubiDeal
  {
   long              ticket;        // MT4: the order ticket (both synthesised deals)
   long              order;
   long              position_id;   // MT4: the order ticket
   datetime          time;          // trade server time
   int               type;          // RUBI_DEAL_*
   int               entry;         // RUBI_ENTRY_*
   string            symbol;
   double            volume;
   double            price;
   double            commission;
   double            swap;
   double            profit;
   double            fee;
   long              magic;
   string            comment;
   int               reason;        // RUBI_DEAL_REASON_* (MT4: RUBI_DEAL_REASON_UNKNOWN)
  };

// The filling mode for a market order on a symbol with these SYMBOL_FILLING_MODE flags: FOK when
// allowed, else IOC, else RETURN (exchange execution). Pure; the MT5 implementation and the
// simulated terminal both use it for RUBI_FILLING_AUTO.
int RubiFillingFor(const long filling_flags)
  {
   if((filling_flags & RUBI_SYMBOL_FILLING_FOK) != 0)
      return RUBI_FILLING_FOK;
   if((filling_flags & RUBI_SYMBOL_FILLING_IOC) != 0)
      return RUBI_FILLING_IOC;
   return RUBI_FILLING_RETURN;
  }

#ifdef RUBI_HOST
//--- Host build: implemented by mql/host/sim_terminal.hpp ---------------------------------------
string   TermPlatform();
int      TermBuild();
datetime TermTimeGmt();
datetime TermTimeServer();
uint     TermTickCount();
void     TermSleep(const int ms);
bool     TermIsStopped();
bool     TermAccount(RubiAccount &account);
bool     TermSymbolSpec(const string symbol, RubiSymbolSpec &spec);
bool     TermMarketOrder(const RubiOrderRequest &request, RubiOrderResult &result);
bool     TermClosePosition(const long ticket, const double volume, const int deviation, RubiOrderResult &result);
bool     TermModifyPosition(const long ticket, const double sl, const double tp, RubiOrderResult &result);
int      TermPositions(RubiPosition &positions[]);
int      TermHistoryDeals(const datetime from, const datetime to, RubiDeal &deals[]);
int      TermHistoryPositionDeals(const long position_id, RubiDeal &deals[]);
bool     TermConnected();
int      TermOrderComments(const datetime from, string &comments[]);
#else

//--- Shared by both terminals --------------------------------------------------------------------
datetime TermTimeGmt() { return TimeGMT(); }
uint     TermTickCount() { return GetTickCount(); }
void     TermSleep(const int ms) { if(ms > 0) Sleep(ms); }
bool     TermIsStopped() { return IsStopped(); }
int      TermBuild() { return TerminalInfoInteger(TERMINAL_BUILD); }

// Symbol specification; the symbol is put into Market Watch first (needed for its quotes).
bool TermSymbolSpec(const string symbol, RubiSymbolSpec &spec)
  {
   if(!SymbolSelect(symbol, true))
      return false;
   spec.symbol = symbol;
   spec.digits = (int)SymbolInfoInteger(symbol, SYMBOL_DIGITS);
   spec.point = SymbolInfoDouble(symbol, SYMBOL_POINT);
   spec.tick_size = SymbolInfoDouble(symbol, SYMBOL_TRADE_TICK_SIZE);
   spec.tick_value = SymbolInfoDouble(symbol, SYMBOL_TRADE_TICK_VALUE);
   spec.contract_size = SymbolInfoDouble(symbol, SYMBOL_TRADE_CONTRACT_SIZE);
   spec.volume_min = SymbolInfoDouble(symbol, SYMBOL_VOLUME_MIN);
   spec.volume_max = SymbolInfoDouble(symbol, SYMBOL_VOLUME_MAX);
   spec.volume_step = SymbolInfoDouble(symbol, SYMBOL_VOLUME_STEP);
   spec.stops_level = (int)SymbolInfoInteger(symbol, SYMBOL_TRADE_STOPS_LEVEL);
   spec.freeze_level = (int)SymbolInfoInteger(symbol, SYMBOL_TRADE_FREEZE_LEVEL);
   long mode = SymbolInfoInteger(symbol, SYMBOL_TRADE_MODE);
   spec.trade_allowed = mode != SYMBOL_TRADE_MODE_DISABLED && mode != SYMBOL_TRADE_MODE_CLOSEONLY;
   spec.bid = SymbolInfoDouble(symbol, SYMBOL_BID);
   spec.ask = SymbolInfoDouble(symbol, SYMBOL_ASK);
#ifdef __MQL5__
   spec.filling_flags = (int)SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE);
#else
   spec.filling_flags = 0;
#endif
   return spec.tick_size > 0 && spec.volume_step > 0;
  }

#ifdef __MQL5__
//--- MetaTrader 5 --------------------------------------------------------------------------------
// Orders, closes and modifications go through the standard library's CTrade (issue #11), which every
// MetaTrader 5 ships in MQL5/Include/Trade/. The host syntax pass checks the CTrade calls against the
// declarations in mql/host/stdlib/Trade/Trade.mqh, a host-only stand-in never copied into a terminal.
#include <Trade/Trade.mqh>

string   TermPlatform() { return "MT5"; }
bool     TermConnected() { return TerminalInfoInteger(TERMINAL_CONNECTED) != 0; }
datetime TermTimeServer() { return TimeTradeServer(); }

bool TermAccount(RubiAccount &account)
  {
   account.login = AccountInfoInteger(ACCOUNT_LOGIN);
   account.server = AccountInfoString(ACCOUNT_SERVER);
   account.broker = AccountInfoString(ACCOUNT_COMPANY);
   account.currency = AccountInfoString(ACCOUNT_CURRENCY);
   account.leverage = AccountInfoInteger(ACCOUNT_LEVERAGE);
   account.balance = AccountInfoDouble(ACCOUNT_BALANCE);
   account.equity = AccountInfoDouble(ACCOUNT_EQUITY);
   account.margin = AccountInfoDouble(ACCOUNT_MARGIN);
   account.margin_free = AccountInfoDouble(ACCOUNT_MARGIN_FREE);
   account.margin_level = AccountInfoDouble(ACCOUNT_MARGIN_LEVEL);
   account.profit = AccountInfoDouble(ACCOUNT_PROFIT);
   account.trade_allowed = TerminalInfoInteger(TERMINAL_TRADE_ALLOWED) != 0 && MQLInfoInteger(MQL_TRADE_ALLOWED) != 0 &&
                           AccountInfoInteger(ACCOUNT_TRADE_ALLOWED) != 0;
   return account.login > 0;
  }

ENUM_ORDER_TYPE_FILLING RubiMt5Filling(const string symbol, const int filling)
  {
   int f = filling == RUBI_FILLING_AUTO ? RubiFillingFor(SymbolInfoInteger(symbol, SYMBOL_FILLING_MODE)) : filling;
   if(f == RUBI_FILLING_FOK)
      return ORDER_FILLING_FOK;
   if(f == RUBI_FILLING_IOC)
      return ORDER_FILLING_IOC;
   return ORDER_FILLING_RETURN;
  }

// Configures `trade` for one request: synchronous, errors-only logging, the magic number, the slippage
// accepted (points) and the filling mode chosen from the symbol (RubiMt5Filling).
void RubiMt5TradeSetup(CTrade &trade, const long magic, const int deviation, const string symbol, const int filling)
  {
   trade.SetAsyncMode(false);
   trade.LogLevel(LOG_LEVEL_ERRORS);
   trade.SetExpertMagicNumber((ulong)magic);
   trade.SetDeviationInPoints((ulong)MathMax(deviation, 0));
   trade.SetTypeFilling(RubiMt5Filling(symbol, filling));
  }

// Fills `result` from the CTrade call `what` that returned `sent`. ok: sent and the trade server answered
// done, done partially or placed. `position` is the position the request named (0 for a new order): the
// deal's DEAL_POSITION_ID replaces it when the deal is in the history, the order ticket when it stays 0.
bool RubiMt5TradeResult(CTrade &trade, const bool sent, const long position, const string what, RubiOrderResult &result)
  {
   uint retcode = trade.ResultRetcode();
   ulong deal = trade.ResultDeal();
   result.retcode = (int)retcode;
   result.order = (long)trade.ResultOrder();
   result.deal = (long)deal;
   result.position = position;
   result.price = trade.ResultPrice();
   result.volume = trade.ResultVolume();
   result.time = TimeTradeServer();
   result.message = trade.ResultComment();
   result.ok = sent && (retcode == TRADE_RETCODE_DONE || retcode == TRADE_RETCODE_DONE_PARTIAL || retcode == TRADE_RETCODE_PLACED);
   if(!sent && result.message == "")
      result.message = retcode != 0 ? trade.ResultRetcodeDescription() : what + " failed, error " + IntegerToString(GetLastError());
   if(result.ok && deal > 0 && HistoryDealSelect(deal))
      result.position = HistoryDealGetInteger(deal, DEAL_POSITION_ID);
   if(result.ok && result.position == 0)
      result.position = result.order;
   return result.ok;
  }

// A market order at the current Ask (buy) / Bid (sell).
bool TermMarketOrder(const RubiOrderRequest &request, RubiOrderResult &result)
  {
   CTrade trade;
   RubiMt5TradeSetup(trade, request.magic, request.deviation, request.symbol, request.filling);
   ResetLastError();
   bool sent = false;
   if(request.side == RUBI_BUY)
      sent = trade.Buy(request.volume, request.symbol, 0.0, request.sl, request.tp, request.comment);
   else
      sent = trade.Sell(request.volume, request.symbol, 0.0, request.sl, request.tp, request.comment);
   return RubiMt5TradeResult(trade, sent, 0, request.side == RUBI_BUY ? "CTrade.Buy" : "CTrade.Sell", result);
  }

// Closes `volume` lots (0, or the whole volume or more: all) of the position `ticket` with an opposite
// deal, under the position's own magic number. A partial close on a hedging account is
// CTrade.PositionClosePartial; CTrade supports that on hedging accounts only, so on a netting account the
// partial close is an opposite market deal of `volume` on the symbol (one position per symbol there).
bool TermClosePosition(const long ticket, const double volume, const int deviation, RubiOrderResult &result)
  {
   if(!PositionSelectByTicket((ulong)ticket))
     {
      result.ok = false;
      result.retcode = 0;
      result.message = "position " + IntegerToString(ticket) + " not found";
      return false;
     }
   string symbol = PositionGetString(POSITION_SYMBOL);
   bool is_buy = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY;
   bool partial = volume > 0 && volume < PositionGetDouble(POSITION_VOLUME);
   bool hedging = AccountInfoInteger(ACCOUNT_MARGIN_MODE) == ACCOUNT_MARGIN_MODE_RETAIL_HEDGING;
   CTrade trade;
   RubiMt5TradeSetup(trade, PositionGetInteger(POSITION_MAGIC), deviation, symbol, RUBI_FILLING_AUTO);
   ulong points = (ulong)MathMax(deviation, 0);
   ResetLastError();
   bool sent = false;
   string what = "CTrade.PositionClose";
   if(!partial)
      sent = trade.PositionClose((ulong)ticket, points);
   else if(hedging)
     {
      what = "CTrade.PositionClosePartial";
      sent = trade.PositionClosePartial((ulong)ticket, volume, points);
     }
   else if(is_buy)
     {
      what = "CTrade.Sell";
      sent = trade.Sell(volume, symbol);
     }
   else
     {
      what = "CTrade.Buy";
      sent = trade.Buy(volume, symbol);
     }
   return RubiMt5TradeResult(trade, sent, ticket, what, result);
  }

// Sets the position's stop-loss and take-profit (0: none).
bool TermModifyPosition(const long ticket, const double sl, const double tp, RubiOrderResult &result)
  {
   if(!PositionSelectByTicket((ulong)ticket))
     {
      result.ok = false;
      result.retcode = 0;
      result.message = "position " + IntegerToString(ticket) + " not found";
      return false;
     }
   CTrade trade;
   RubiMt5TradeSetup(trade, PositionGetInteger(POSITION_MAGIC), 0, PositionGetString(POSITION_SYMBOL), RUBI_FILLING_AUTO);
   ResetLastError();
   bool sent = trade.PositionModify((ulong)ticket, sl, tp);
   return RubiMt5TradeResult(trade, sent, ticket, "CTrade.PositionModify", result);
  }

int TermPositions(RubiPosition &positions[])
  {
   int total = PositionsTotal();
   ArrayResize(positions, 0, total);
   int n = 0;
   for(int i = 0; i < total; i++)
     {
      ulong ticket = PositionGetTicket(i);
      if(ticket == 0)
         continue;
      ArrayResize(positions, n + 1, total);
      positions[n].ticket = (long)ticket;
      positions[n].symbol = PositionGetString(POSITION_SYMBOL);
      positions[n].side = PositionGetInteger(POSITION_TYPE) == POSITION_TYPE_BUY ? RUBI_BUY : RUBI_SELL;
      positions[n].volume = PositionGetDouble(POSITION_VOLUME);
      positions[n].open_price = PositionGetDouble(POSITION_PRICE_OPEN);
      positions[n].current_price = PositionGetDouble(POSITION_PRICE_CURRENT);
      positions[n].sl = PositionGetDouble(POSITION_SL);
      positions[n].tp = PositionGetDouble(POSITION_TP);
      positions[n].open_time = (datetime)PositionGetInteger(POSITION_TIME);
      positions[n].profit = PositionGetDouble(POSITION_PROFIT);
      positions[n].swap = PositionGetDouble(POSITION_SWAP);
      positions[n].commission = 0;
      positions[n].magic = PositionGetInteger(POSITION_MAGIC);
      positions[n].comment = PositionGetString(POSITION_COMMENT);
      n++;
     }
   return n;
  }

// The deals of the current history selection (HistorySelect / HistorySelectByPosition).
int RubiMt5SelectedDeals(RubiDeal &deals[])
  {
   int total = HistoryDealsTotal();
   ArrayResize(deals, total);
   int n = 0;
   for(int i = 0; i < total; i++)
     {
      ulong ticket = HistoryDealGetTicket(i);
      if(ticket == 0)
         continue;
      long type = HistoryDealGetInteger(ticket, DEAL_TYPE);
      long entry = HistoryDealGetInteger(ticket, DEAL_ENTRY);
      deals[n].ticket = (long)ticket;
      deals[n].order = HistoryDealGetInteger(ticket, DEAL_ORDER);
      deals[n].position_id = HistoryDealGetInteger(ticket, DEAL_POSITION_ID);
      deals[n].time = (datetime)HistoryDealGetInteger(ticket, DEAL_TIME);
      deals[n].type = type == DEAL_TYPE_BUY ? RUBI_DEAL_BUY : (type == DEAL_TYPE_SELL ? RUBI_DEAL_SELL : RUBI_DEAL_OTHER);
      deals[n].entry = entry == DEAL_ENTRY_IN ? RUBI_ENTRY_IN : (entry == DEAL_ENTRY_OUT ? RUBI_ENTRY_OUT : (entry == DEAL_ENTRY_INOUT ? RUBI_ENTRY_INOUT : RUBI_ENTRY_OUT_BY));
      deals[n].symbol = HistoryDealGetString(ticket, DEAL_SYMBOL);
      deals[n].volume = HistoryDealGetDouble(ticket, DEAL_VOLUME);
      deals[n].price = HistoryDealGetDouble(ticket, DEAL_PRICE);
      deals[n].commission = HistoryDealGetDouble(ticket, DEAL_COMMISSION);
      deals[n].swap = HistoryDealGetDouble(ticket, DEAL_SWAP);
      deals[n].profit = HistoryDealGetDouble(ticket, DEAL_PROFIT);
      deals[n].fee = HistoryDealGetDouble(ticket, DEAL_FEE);
      deals[n].magic = HistoryDealGetInteger(ticket, DEAL_MAGIC);
      deals[n].comment = HistoryDealGetString(ticket, DEAL_COMMENT);
      long reason = HistoryDealGetInteger(ticket, DEAL_REASON);
      deals[n].reason = reason == DEAL_REASON_EXPERT ? RUBI_DEAL_REASON_EXPERT : (reason == DEAL_REASON_SL ? RUBI_DEAL_REASON_SL :
                        (reason == DEAL_REASON_TP ? RUBI_DEAL_REASON_TP : RUBI_DEAL_REASON_OTHER));
      n++;
     }
   ArrayResize(deals, n);
   return n;
  }

int TermHistoryDeals(const datetime from, const datetime to, RubiDeal &deals[])
  {
   ArrayResize(deals, 0);
   if(!HistorySelect(from, to))
      return -1;
   return RubiMt5SelectedDeals(deals);
  }

// Every deal of a position, whatever its time (HistorySelectByPosition).
int TermHistoryPositionDeals(const long position_id, RubiDeal &deals[])
  {
   ArrayResize(deals, 0);
   if(!HistorySelectByPosition(position_id))
      return -1;
   return RubiMt5SelectedDeals(deals);
  }

// The comments (non-empty) of the pending orders open now (OrdersTotal / OrderGetTicket, which selects
// the order for OrderGetString), then of the history orders (filled, cancelled, expired, deleted)
// selected by HistorySelect(from, now + 1 day) (HistoryOrdersTotal / HistoryOrderGetTicket /
// HistoryOrderGetString). -1 when the history cannot be selected (the open orders' comments are kept).
int TermOrderComments(const datetime from, string &comments[])
  {
   ArrayResize(comments, 0);
   int n = 0;
   int total = OrdersTotal();
   for(int i = 0; i < total; i++)
     {
      if(OrderGetTicket(i) == 0)
         continue;
      string comment = OrderGetString(ORDER_COMMENT);
      if(comment == "")
         continue;
      ArrayResize(comments, n + 1, 64);
      comments[n] = comment;
      n++;
     }
   if(!HistorySelect(from, TimeTradeServer() + 86400))
      return -1;
   total = HistoryOrdersTotal();
   for(int i = 0; i < total; i++)
     {
      ulong ticket = HistoryOrderGetTicket(i);
      if(ticket == 0)
         continue;
      string comment = HistoryOrderGetString(ticket, ORDER_COMMENT);
      if(comment == "")
         continue;
      ArrayResize(comments, n + 1, 64);
      comments[n] = comment;
      n++;
     }
   return n;
  }

#else
//--- MetaTrader 4 --------------------------------------------------------------------------------
string   TermPlatform() { return "MT4"; }
bool     TermConnected() { return IsConnected(); }
datetime TermTimeServer() { return TimeCurrent(); }

bool TermAccount(RubiAccount &account)
  {
   account.login = AccountNumber();
   account.server = AccountServer();
   account.broker = AccountCompany();
   account.currency = AccountCurrency();
   account.leverage = AccountLeverage();
   account.balance = AccountBalance();
   account.equity = AccountEquity();
   account.margin = AccountMargin();
   account.margin_free = AccountFreeMargin();
   account.margin_level = account.margin > 0 ? account.equity / account.margin * 100 : 0;
   account.profit = AccountProfit();
   account.trade_allowed = IsTradeAllowed();
   return account.login > 0;
  }

// Fills `result` from the order selected after a successful OrderSend/OrderClose.
void RubiMt4Filled(const int ticket, const bool closing, RubiOrderResult &result)
  {
   result.ok = true;
   result.retcode = 0;
   result.order = ticket;
   result.deal = 0;
   result.position = ticket;
   result.message = "";
   result.time = TimeCurrent();
   if(OrderSelect(ticket, SELECT_BY_TICKET))
     {
      result.price = closing ? OrderClosePrice() : OrderOpenPrice();
      result.volume = OrderLots();
      result.time = closing ? OrderCloseTime() : OrderOpenTime();
     }
  }

void RubiMt4Failed(const string what, RubiOrderResult &result)
  {
   int error = GetLastError();
   result.ok = false;
   result.retcode = error;
   result.message = what + " failed, error " + IntegerToString(error);
  }

bool TermMarketOrder(const RubiOrderRequest &request, RubiOrderResult &result)
  {
   RefreshRates();
   ResetLastError();
   double price = MarketInfo(request.symbol, request.side == RUBI_BUY ? MODE_ASK : MODE_BID);
   int ticket = OrderSend(request.symbol, request.side == RUBI_BUY ? OP_BUY : OP_SELL, request.volume, price,
                          MathMax(request.deviation, 0), request.sl, request.tp, request.comment, (int)request.magic, 0, clrNONE);
   if(ticket < 0)
     {
      RubiMt4Failed("OrderSend", result);
      return false;
     }
   RubiMt4Filled(ticket, false, result);
   return true;
  }

bool TermClosePosition(const long ticket, const double volume, const int deviation, RubiOrderResult &result)
  {
   if(!OrderSelect((int)ticket, SELECT_BY_TICKET) || OrderCloseTime() != 0 || OrderType() > OP_SELL)
     {
      result.ok = false;
      result.retcode = 0;
      result.message = "position " + IntegerToString(ticket) + " not found";
      return false;
     }
   RefreshRates();
   ResetLastError();
   double lots = volume > 0 ? volume : OrderLots();
   double price = MarketInfo(OrderSymbol(), OrderType() == OP_BUY ? MODE_BID : MODE_ASK);
   if(!OrderClose((int)ticket, lots, price, MathMax(deviation, 0), clrNONE))
     {
      RubiMt4Failed("OrderClose", result);
      return false;
     }
   RubiMt4Filled((int)ticket, true, result);
   return true;
  }

bool TermModifyPosition(const long ticket, const double sl, const double tp, RubiOrderResult &result)
  {
   if(!OrderSelect((int)ticket, SELECT_BY_TICKET) || OrderCloseTime() != 0)
     {
      result.ok = false;
      result.retcode = 0;
      result.message = "position " + IntegerToString(ticket) + " not found";
      return false;
     }
   ResetLastError();
   if(!OrderModify((int)ticket, OrderOpenPrice(), sl, tp, 0, clrNONE))
     {
      RubiMt4Failed("OrderModify", result);
      return false;
     }
   RubiMt4Filled((int)ticket, false, result);
   return true;
  }

int TermPositions(RubiPosition &positions[])
  {
   int total = OrdersTotal();
   ArrayResize(positions, 0, total);
   int n = 0;
   for(int i = 0; i < total; i++)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_TRADES) || OrderType() > OP_SELL)
         continue;
      ArrayResize(positions, n + 1, total);
      positions[n].ticket = OrderTicket();
      positions[n].symbol = OrderSymbol();
      positions[n].side = OrderType() == OP_BUY ? RUBI_BUY : RUBI_SELL;
      positions[n].volume = OrderLots();
      positions[n].open_price = OrderOpenPrice();
      positions[n].current_price = OrderClosePrice();
      positions[n].sl = OrderStopLoss();
      positions[n].tp = OrderTakeProfit();
      positions[n].open_time = OrderOpenTime();
      positions[n].profit = OrderProfit();
      positions[n].swap = OrderSwap();
      positions[n].commission = OrderCommission();
      positions[n].magic = OrderMagicNumber();
      positions[n].comment = OrderComment();
      n++;
     }
   return n;
  }

// MT4 has no deals: each closed market order in the account history becomes an IN deal (open
// time and price) and an OUT deal (close time and price, carrying commission, swap and profit),
// so trade sync assembles MT4 and MT5 history the same way. Orders closed within [from, to].
// Only what the terminal's Account History tab holds is visible (its period setting applies).
// Appends the selected closed order as an IN deal (open time and price) and an OUT deal (close time
// and price, carrying commission, swap and profit) at deals[n], deals[n + 1]; returns n + 2.
int RubiMt4PushOrderDeals(RubiDeal &deals[], const int n)
  {
   ArrayResize(deals, n + 2, 64);
   int side = OrderType() == OP_BUY ? RUBI_DEAL_BUY : RUBI_DEAL_SELL;
   for(int k = 0; k < 2; k++)
     {
      bool out = k == 1;
      int i = n + k;
      deals[i].ticket = OrderTicket();
      deals[i].order = OrderTicket();
      deals[i].position_id = OrderTicket();
      deals[i].time = out ? OrderCloseTime() : OrderOpenTime();
      deals[i].type = out ? (side == RUBI_DEAL_BUY ? RUBI_DEAL_SELL : RUBI_DEAL_BUY) : side;
      deals[i].entry = out ? RUBI_ENTRY_OUT : RUBI_ENTRY_IN;
      deals[i].symbol = OrderSymbol();
      deals[i].volume = OrderLots();
      deals[i].price = out ? OrderClosePrice() : OrderOpenPrice();
      deals[i].commission = out ? OrderCommission() : 0;
      deals[i].swap = out ? OrderSwap() : 0;
      deals[i].profit = out ? OrderProfit() : 0;
      deals[i].fee = 0;
      deals[i].magic = OrderMagicNumber();
      deals[i].comment = OrderComment();
      deals[i].reason = RUBI_DEAL_REASON_UNKNOWN;
     }
   return n + 2;
  }

// MT4 has no deals: each closed market order in the account history becomes an IN deal and an
// OUT deal (RubiMt4PushOrderDeals), so trade sync assembles MT4 and MT5 history the same way. Orders
// closed within [from, to]. Only what the terminal's Account History tab holds is visible (its
// period setting applies).
int TermHistoryDeals(const datetime from, const datetime to, RubiDeal &deals[])
  {
   int total = OrdersHistoryTotal();
   ArrayResize(deals, 0, total * 2);
   int n = 0;
   for(int i = 0; i < total; i++)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_HISTORY) || OrderType() > OP_SELL)
         continue;
      datetime closed = OrderCloseTime();
      if(closed < from || closed > to)
         continue;
      n = RubiMt4PushOrderDeals(deals, n);
     }
   return n;
  }

// The IN + OUT pair of one closed market order (none while it is open, pending or not found).
int TermHistoryPositionDeals(const long position_id, RubiDeal &deals[])
  {
   ArrayResize(deals, 0);
   if(!OrderSelect((int)position_id, SELECT_BY_TICKET, MODE_HISTORY) || OrderType() > OP_SELL || OrderCloseTime() == 0)
      return 0;
   return RubiMt4PushOrderDeals(deals, 0);
  }

// The comments (non-empty) of the pending orders open now (MODE_TRADES, OP_BUYLIMIT..OP_SELLSTOP), then
// of the orders in the account history (MODE_HISTORY: closed market orders and deleted or expired
// pending orders; balance and credit rows skipped) placed or closed at or after `from`. Only what the
// terminal's Account History tab holds is visible (its period setting applies).
int TermOrderComments(const datetime from, string &comments[])
  {
   ArrayResize(comments, 0);
   int n = 0;
   int total = OrdersTotal();
   for(int i = 0; i < total; i++)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_TRADES) || OrderType() < OP_BUYLIMIT || OrderType() > OP_SELLSTOP)
         continue;
      string comment = OrderComment();
      if(comment == "")
         continue;
      ArrayResize(comments, n + 1, 64);
      comments[n] = comment;
      n++;
     }
   total = OrdersHistoryTotal();
   for(int i = 0; i < total; i++)
     {
      if(!OrderSelect(i, SELECT_BY_POS, MODE_HISTORY) || OrderType() > OP_SELLSTOP)
         continue;
      if(OrderOpenTime() < from && OrderCloseTime() < from)
         continue;
      string comment = OrderComment();
      if(comment == "")
         continue;
      ArrayResize(comments, n + 1, 64);
      comments[n] = comment;
      n++;
     }
   return n;
  }

#endif
#endif
#endif

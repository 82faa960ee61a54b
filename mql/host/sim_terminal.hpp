// sim_terminal.hpp: the simulated terminal behind Rubi/Terminal.mqh in host test builds (RUBI_HOST).
//
// Include it in a C++ test program AFTER the Rubi includes (it implements the Term* functions they
// declare). The test drives the simulation through rubi_sim::sim():
//   clock     gmt (UTC seconds), server_offset (trade server = gmt + offset), tick (GetTickCount),
//             clock_skew: this computer's clock error (TermTimeGmt = gmt + clock_skew; the trade
//             server and a test's backend keep the true gmt)
//   sleeping  TermSleep records each delay in `sleeps` and advances the clock instead of waiting
//   account   login/server/broker/currency/leverage/balance; equity follows the open positions
//   symbols   add_symbol(...) with the SYMBOL_* figures and a quote; set_quote moves the market
//   orders    market orders fill at ask (buy) / bid (sell) unless reject_next holds a retcode or
//             the volume or stops are invalid (MT5 retcodes 10014 / 10016; MT4: 131 / 130);
//             each fill books an IN deal, each close an OUT deal with profit, commission and swap
//   history   deals (server times), as TermHistoryDeals returns them
//   hooks     before_order / after_order: called around each market order (a test "crashes" there);
//             before_close: before a close reaches the simulated trade server
//   answers   lost_answer_next: retcodes for the next closes that DO fill on the trade server but are
//             answered with that retcode (a timeout or dropped connection after the fill)
//   stops     close_by(ticket, reason): the trade server closes a position by itself (its stop loss,
//             take profit, by hand) with a deal of that RUBI_DEAL_REASON_*
//   orders    place_pending(comment) / delete_pending(ticket): pending orders placed and deleted by the
//             trader (a deleted one moves to the order history); history_order(...) books one directly;
//             TermOrderComments reads them and records each `from` it was asked for in order_scans
// It is a test double, not a broker: no margin checks, no partial fills, hedging accounting.
#pragma once

#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace rubi_sim {

// An order of the account as TermOrderComments sees it (MT5 OrdersTotal/HistoryOrders*; MT4 MODE_TRADES
// pending types / MODE_HISTORY): placed at `setup`, finished (filled, deleted) at `done` (0: pending).
struct SimOrder {
  long ticket = 0;
  string comment;
  datetime setup = 0;
  datetime done = 0;
};

struct State {
  int build = 4755;
  datetime gmt = 1763720100;  // 2025-11-21T10:15:00Z
  int server_offset = 7200;
  long clock_skew = 0;  // s: TermTimeGmt() = gmt + clock_skew (a computer clock that is off)
  uint tick = 1000000;
  long sleep_remainder_ms = 0;
  std::vector<int> sleeps;
  bool stopped = false;
  RubiAccount account{};
  std::map<std::string, RubiSymbolSpec> symbols;
  std::vector<RubiPosition> positions;
  std::vector<RubiDeal> deals;
  std::vector<SimOrder> pending_orders;  // open pending orders
  std::vector<SimOrder> order_history;   // finished orders (deleted pending orders among them)
  std::vector<datetime> order_scans;     // the `from` of each TermOrderComments call
  std::deque<int> reject_next;      // retcodes for the next orders (front first)
  std::deque<int> lost_answer_next; // retcodes answered to the next closes although they filled
  double commission_per_lot = -3.5; // per side
  long next_ticket = 500000000;
  // Test hooks around TermMarketOrder: before the order reaches the simulated trade server, and
  // after it filled (a test exits the process there to simulate a terminal crash).
  std::function<void(const RubiOrderRequest &)> before_order;
  std::function<void(const RubiOrderRequest &, const RubiOrderResult &)> after_order;
  std::function<void(long ticket)> before_close;
};

inline State &sim() {
  static State s;
  static bool initialised = false;
  if (!initialised) {
    initialised = true;
    s.account.login = 51234567;
    s.account.server = "RubiBroker-Demo";
    s.account.broker = "Rubi Broker Ltd";
    s.account.currency = "USD";
    s.account.leverage = 500;
    s.account.balance = 10000;
    s.account.trade_allowed = true;
  }
  return s;
}

inline bool is_mt5() {
#ifdef __MQL5__
  return true;
#else
  return false;
#endif
}

inline void add_symbol(const std::string &name, int digits, double tick_size, double tick_value, double contract_size, double volume_min,
                       double volume_max, double volume_step, double bid, double ask, int stops_level = 0, int filling_flags = 1) {
  RubiSymbolSpec s{};
  s.symbol = string(name.c_str());
  s.digits = digits;
  s.point = tick_size;
  s.tick_size = tick_size;
  s.tick_value = tick_value;
  s.contract_size = contract_size;
  s.volume_min = volume_min;
  s.volume_max = volume_max;
  s.volume_step = volume_step;
  s.stops_level = stops_level;
  s.freeze_level = 0;
  s.filling_flags = is_mt5() ? filling_flags : 0;
  s.trade_allowed = true;
  s.bid = bid;
  s.ask = ask;
  sim().symbols[name] = s;
}

inline double profit_of(const RubiPosition &p) {
  auto it = sim().symbols.find(mql_host::to_utf8(p.symbol));
  if (it == sim().symbols.end()) return 0;
  const RubiSymbolSpec &s = it->second;
  double exit = p.side == RUBI_BUY ? s.bid : s.ask;
  double ticks = (p.side == RUBI_BUY ? exit - p.open_price : p.open_price - exit) / s.tick_size;
  return std::round(ticks * s.tick_value * p.volume * 100) / 100;
}

inline void set_quote(const std::string &name, double bid, double ask) {
  RubiSymbolSpec &s = sim().symbols.at(name);
  s.bid = bid;
  s.ask = ask;
  for (auto &p : sim().positions) {
    if (mql_host::to_utf8(p.symbol) != name) continue;
    p.current_price = p.side == RUBI_BUY ? bid : ask;
    p.profit = profit_of(p);
  }
}

inline datetime server_now() { return sim().gmt + sim().server_offset; }

inline void fail(RubiOrderResult &r, int retcode, const std::string &message) {
  r.ok = false;
  r.retcode = retcode;
  r.order = r.deal = r.position = 0;
  r.price = r.volume = 0;
  r.time = server_now();
  r.message = string(message.c_str());
}

inline RubiDeal &book_deal(const RubiPosition &p, int entry, double volume, double price) {
  RubiDeal d{};
  d.ticket = sim().next_ticket++;
  d.order = entry == RUBI_ENTRY_IN ? p.ticket : d.ticket;  // MT5: the opening order's ticket is the position's
  d.position_id = p.ticket;
  d.time = server_now();
  bool buy = (p.side == RUBI_BUY) == (entry == RUBI_ENTRY_IN);
  d.type = buy ? RUBI_DEAL_BUY : RUBI_DEAL_SELL;
  d.entry = entry;
  d.symbol = p.symbol;
  d.volume = volume;
  d.price = price;
  d.commission = std::round(sim().commission_per_lot * volume * 100) / 100;
  d.swap = 0;
  d.profit = 0;
  d.fee = 0;
  d.magic = p.magic;
  d.comment = p.comment;
  d.reason = rubi_sim::is_mt5() ? RUBI_DEAL_REASON_EXPERT : RUBI_DEAL_REASON_UNKNOWN;
  sim().deals.push_back(d);
  return sim().deals.back();
}

}  // namespace rubi_sim

string TermPlatform() { return rubi_sim::is_mt5() ? "MT5" : "MT4"; }
int TermBuild() { return rubi_sim::sim().build; }
datetime TermTimeGmt() { return (datetime)(rubi_sim::sim().gmt + rubi_sim::sim().clock_skew); }
datetime TermTimeServer() { return rubi_sim::server_now(); }
uint TermTickCount() { return rubi_sim::sim().tick; }
bool TermIsStopped() { return rubi_sim::sim().stopped; }

void TermSleep(const int ms) {
  auto &s = rubi_sim::sim();
  s.sleeps.push_back(ms);
  if (ms <= 0) return;
  s.tick += (uint)ms;
  s.sleep_remainder_ms += ms;
  s.gmt += s.sleep_remainder_ms / 1000;
  s.sleep_remainder_ms %= 1000;
}

bool TermAccount(RubiAccount &account) {
  auto &s = rubi_sim::sim();
  account = s.account;
  double floating = 0;
  for (const auto &p : s.positions) floating += p.profit + p.swap + p.commission;
  account.equity = std::round((s.account.balance + floating) * 100) / 100;
  account.profit = std::round(floating * 100) / 100;
  account.margin = 0;
  account.margin_free = account.equity;
  account.margin_level = 0;
  return account.login > 0;
}

bool TermSymbolSpec(const string symbol, RubiSymbolSpec &spec) {
  auto it = rubi_sim::sim().symbols.find(mql_host::to_utf8(symbol));
  if (it == rubi_sim::sim().symbols.end()) return false;
  spec = it->second;
  return true;
}

bool TermMarketOrder(const RubiOrderRequest &request, RubiOrderResult &result) {
  using namespace rubi_sim;
  auto &s = sim();
  const bool mt5 = is_mt5();
  if (s.before_order) s.before_order(request);
  auto it = s.symbols.find(mql_host::to_utf8(request.symbol));
  if (it == s.symbols.end()) {
    fail(result, mt5 ? 0 : 4106, "unknown symbol " + mql_host::to_utf8(request.symbol));
    return false;
  }
  if (!s.reject_next.empty()) {
    int code = s.reject_next.front();
    s.reject_next.pop_front();
    fail(result, code, "rejected by the simulated trade server");
    return false;
  }
  const RubiSymbolSpec &spec = it->second;
  double steps = request.volume / spec.volume_step;
  if (request.volume < spec.volume_min || request.volume > spec.volume_max || std::fabs(steps - std::round(steps)) > 1e-7) {
    fail(result, mt5 ? 10014 : 131, "invalid volume");
    return false;
  }
  double price = request.side == RUBI_BUY ? spec.ask : spec.bid;
  double exit = request.side == RUBI_BUY ? spec.bid : spec.ask;
  double gap = spec.stops_level * spec.point;
  double eps = spec.point / 2;  // a trade server compares whole points: exactly at the level is allowed
  bool bad_sl = request.sl > 0 && (request.side == RUBI_BUY ? request.sl > exit - gap + eps : request.sl < exit + gap - eps);
  bool bad_tp = request.tp > 0 && (request.side == RUBI_BUY ? request.tp < exit + gap - eps : request.tp > exit - gap + eps);
  if (bad_sl || bad_tp) {
    fail(result, mt5 ? 10016 : 130, "invalid stops");
    return false;
  }
  RubiPosition p{};
  p.ticket = s.next_ticket++;
  p.symbol = request.symbol;
  p.side = request.side;
  p.volume = request.volume;
  p.open_price = price;
  p.current_price = exit;
  p.sl = request.sl;
  p.tp = request.tp;
  p.open_time = server_now();
  p.magic = request.magic;
  p.comment = StringLen(request.comment) > 31 ? StringSubstr(request.comment, 0, 31) : request.comment;
  p.profit = profit_of(p);
  RubiDeal &d = book_deal(p, RUBI_ENTRY_IN, request.volume, price);
  p.commission = mt5 ? 0 : d.commission;
  s.positions.push_back(p);
  result.ok = true;
  result.retcode = mt5 ? 10009 : 0;
  result.order = p.ticket;
  result.deal = mt5 ? d.ticket : 0;
  result.position = p.ticket;
  result.price = price;
  result.volume = request.volume;
  result.time = p.open_time;
  result.message = mt5 ? "Request executed" : "";
  if (s.after_order) s.after_order(request, result);
  return true;
}

bool TermClosePosition(const long ticket, const double volume, const int deviation, RubiOrderResult &result) {
  using namespace rubi_sim;
  auto &s = sim();
  if (s.before_close) s.before_close(ticket);
  for (size_t i = 0; i < s.positions.size(); i++) {
    RubiPosition &p = s.positions[i];
    if (p.ticket != ticket) continue;
    if (!s.reject_next.empty()) {
      int code = s.reject_next.front();
      s.reject_next.pop_front();
      fail(result, code, "rejected by the simulated trade server");
      return false;
    }
    const RubiSymbolSpec &spec = s.symbols.at(mql_host::to_utf8(p.symbol));
    double lots = volume > 0 && volume < p.volume ? volume : p.volume;
    double price = p.side == RUBI_BUY ? spec.bid : spec.ask;
    double profit = std::round(profit_of(p) * (lots / p.volume) * 100) / 100;
    RubiDeal &d = book_deal(p, RUBI_ENTRY_OUT, lots, price);
    d.profit = profit;
    d.swap = p.swap;
    if (!is_mt5()) d.commission = std::round((p.commission + d.commission) * 100) / 100;
    s.account.balance = std::round((s.account.balance + profit + d.commission + d.swap) * 100) / 100;
    result.ok = true;
    result.retcode = is_mt5() ? 10009 : 0;
    result.order = d.order;
    result.deal = is_mt5() ? d.ticket : 0;
    result.position = p.ticket;
    result.price = price;
    result.volume = lots;
    result.time = d.time;
    result.message = "";
    if (lots < p.volume) {
      p.volume = std::round((p.volume - lots) * 1e8) / 1e8;
      p.profit = profit_of(p);
    } else {
      s.positions.erase(s.positions.begin() + (long)i);
    }
    if (!s.lost_answer_next.empty()) {
      int code = s.lost_answer_next.front();
      s.lost_answer_next.pop_front();
      fail(result, code, "no answer from the simulated trade server");
      return false;
    }
    return true;
  }
  fail(result, 0, "position " + std::to_string(ticket) + " not found");
  return false;
}

namespace rubi_sim {
// The trade server closes position `ticket` by itself at the current quote: its stop loss or take
// profit (MT5 DEAL_REASON_SL / _TP), or by hand (RUBI_DEAL_REASON_OTHER). The OUT deal keeps the
// position's magic; its comment is the trade server's ("[sl 1.09000]").
inline bool close_by(long ticket, int reason) {
  auto &s = sim();
  for (size_t i = 0; i < s.positions.size(); i++) {
    RubiPosition p = s.positions[i];
    if (p.ticket != ticket) continue;
    const RubiSymbolSpec &spec = s.symbols.at(mql_host::to_utf8(p.symbol));
    double price = p.side == RUBI_BUY ? spec.bid : spec.ask;
    double profit = profit_of(p);
    RubiDeal &d = book_deal(p, RUBI_ENTRY_OUT, p.volume, price);
    d.profit = profit;
    d.reason = is_mt5() ? reason : RUBI_DEAL_REASON_UNKNOWN;
    d.comment = reason == RUBI_DEAL_REASON_SL ? "[sl]" : reason == RUBI_DEAL_REASON_TP ? "[tp]" : "";
    s.account.balance = std::round((s.account.balance + profit + d.commission) * 100) / 100;
    s.positions.erase(s.positions.begin() + (long)i);
    return true;
  }
  return false;
}
}  // namespace rubi_sim

bool TermModifyPosition(const long ticket, const double sl, const double tp, RubiOrderResult &result) {
  for (auto &p : rubi_sim::sim().positions) {
    if (p.ticket != ticket) continue;
    p.sl = sl;
    p.tp = tp;
    result.ok = true;
    result.retcode = rubi_sim::is_mt5() ? 10009 : 0;
    result.order = 0;
    result.deal = 0;
    result.position = ticket;
    result.price = 0;
    result.volume = p.volume;
    result.time = rubi_sim::server_now();
    result.message = "";
    return true;
  }
  rubi_sim::fail(result, 0, "position " + std::to_string(ticket) + " not found");
  return false;
}

int TermPositions(MqlArray<RubiPosition> &positions) {
  positions.v = rubi_sim::sim().positions;
  return (int)positions.v.size();
}

int TermHistoryDeals(const datetime from, const datetime to, MqlArray<RubiDeal> &deals) {
  deals.v.clear();
  for (const auto &d : rubi_sim::sim().deals) {
    if (d.time < from || d.time > to) continue;
    bool open = false;  // MT4 history holds closed orders only: no IN deal of an open position
    for (const auto &p : rubi_sim::sim().positions) open = open || p.ticket == d.position_id;
    if (!rubi_sim::is_mt5() && open) continue;
    deals.v.push_back(d);
  }
  return (int)deals.v.size();
}

// Trade sync (Rubi/TradeSync.mqh): every deal of one position (MT4: none while the order is open),
// and the terminal's connection to the trade server (rubi_sim::connected(), true by default).
namespace rubi_sim {
inline bool &connected() {
  static bool value = true;
  return value;
}
}  // namespace rubi_sim

bool TermConnected() { return rubi_sim::connected(); }

int TermHistoryPositionDeals(const long position_id, MqlArray<RubiDeal> &deals) {
  deals.v.clear();
  bool open = false;
  for (const auto &p : rubi_sim::sim().positions) open = open || p.ticket == position_id;
  if (!rubi_sim::is_mt5() && open) return 0;
  for (const auto &d : rubi_sim::sim().deals)
    if (d.position_id == position_id) deals.v.push_back(d);
  return (int)deals.v.size();
}

// The ownership proof (Rubi/TradeSync.mqh): pending orders the trader places and deletes by hand.
namespace rubi_sim {
inline long place_pending(const std::string &comment) {
  SimOrder o;
  o.ticket = sim().next_ticket++;
  std::string kept = comment.size() > 31 ? comment.substr(0, 31) : comment;  // brokers keep 31 characters
  o.comment = string(kept.c_str());
  o.setup = server_now();
  sim().pending_orders.push_back(o);
  return o.ticket;
}
inline bool delete_pending(long ticket) {
  auto &open = sim().pending_orders;
  for (size_t i = 0; i < open.size(); i++) {
    if (open[i].ticket != ticket) continue;
    SimOrder o = open[i];
    o.done = server_now();
    open.erase(open.begin() + (long)i);
    sim().order_history.push_back(o);
    return true;
  }
  return false;
}
inline void history_order(const std::string &comment, datetime setup, datetime done) {
  SimOrder o;
  o.ticket = sim().next_ticket++;
  o.comment = string(comment.c_str());
  o.setup = setup;
  o.done = done;
  sim().order_history.push_back(o);
}
}  // namespace rubi_sim

int TermOrderComments(const datetime from, MqlArray<string> &comments) {
  auto &s = rubi_sim::sim();
  s.order_scans.push_back(from);
  comments.v.clear();
  for (const auto &o : s.pending_orders)
    if (StringLen(o.comment) > 0) comments.v.push_back(o.comment);
  for (const auto &o : s.order_history)
    if (StringLen(o.comment) > 0 && (o.setup >= from || o.done >= from)) comments.v.push_back(o.comment);
  return (int)comments.v.size();
}

// trade_test.cpp: Rubi/Trade.mqh, Rubi/Terminal.mqh (through the simulated terminal) and Rubi/Log.mqh
// on the host. Self-checking: prints "ok <what>" per check, exits 1 at the first failure. Built for
// MQL5 and MQL4 (retcodes and history differ: MT4 history holds closed orders only).
#include <Rubi/Trade.mqh>
#include <Rubi/Log.mqh>
#include <Rubi/Files.mqh>
#include "sim_terminal.hpp"
#include "tests/harness.hpp"

int main() {
  using namespace harness;
  const bool mt5 = rubi_sim::is_mt5();
  rubi_sim::add_symbol("EURUSD", 5, 0.00001, 1, 100000, 0.01, 100, 0.01, 1.10000, 1.10010, 50, RUBI_SYMBOL_FILLING_IOC);
  check(utf8(TermPlatform()) == (mt5 ? "MT5" : "MT4"), "platform");

  // Filling mode from the symbol's flags.
  check(RubiFillingFor(RUBI_SYMBOL_FILLING_FOK | RUBI_SYMBOL_FILLING_IOC) == RUBI_FILLING_FOK, "FOK first");
  check(RubiFillingFor(RUBI_SYMBOL_FILLING_IOC) == RUBI_FILLING_IOC, "IOC when no FOK");
  check(RubiFillingFor(0) == RUBI_FILLING_RETURN, "RETURN when neither");

  // Comment tag and its limit.
  string tag = RubiTagComment("rubi", "4d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a11");
  check(StringLen(tag) == RUBI_MAX_COMMENT && utf8(tag) == "rubi 4d7c2a0e-5b1f-4c55-9a51-3f", "comment cut to 31 characters");
  check(utf8(RubiTagComment("rubi", "4d7c2a0e")) == "rubi 4d7c2a0e", "short comment kept");

  // Stops level: 50 points = 0.00050 from bid (buy) / ask (sell).
  RubiSymbolSpec spec;
  check(TermSymbolSpec("EURUSD", spec) && !TermSymbolSpec("NOPE", spec) && TermSymbolSpec("EURUSD", spec), "symbol spec lookup");
  check(RubiStopsProblem(spec, RUBI_BUY, 1.0995, 1.1005) == "", "buy stops at the limit are fine");
  check(utf8(RubiStopsProblem(spec, RUBI_BUY, 1.09960, 0)) == "stop-loss 1.0996 must be at most 1.0995 (bid 1.1, stops level 50 points)", "buy SL too close");
  check(RubiStopsProblem(spec, RUBI_BUY, 0, 1.10040) != "", "buy TP too close");
  check(RubiStopsProblem(spec, RUBI_SELL, 1.1006, 1.0996) == "", "sell stops at the limit are fine");
  check(RubiStopsProblem(spec, RUBI_SELL, 1.1005, 0) != "" && RubiStopsProblem(spec, RUBI_SELL, 0, 1.0997) != "", "sell stops too close");
  // Exactly at the stops level is allowed (MQL5 "Requirements and Limitations": Bid-SL >= level):
  // binary doubles must not turn the boundary into a refusal (1022.61 + 7 x 0.01 > 1022.68).
  {
    RubiSymbolSpec g;
    g.symbol = "XAUUSD";
    g.digits = 2;
    g.point = 0.01;
    g.stops_level = 7;
    g.bid = 1022.33;
    g.ask = 1022.61;
    check(RubiStopsProblem(g, RUBI_SELL, 1022.68, 0) == "", "sell SL exactly at the stops level (binary rounding)");
    check(RubiStopsProblem(g, RUBI_BUY, 0, 1022.40) == "", "buy TP exactly at the stops level (binary rounding)");
    check(RubiStopsProblem(g, RUBI_SELL, 1022.67, 0) != "" && RubiStopsProblem(g, RUBI_BUY, 0, 1022.39) != "", "one point inside the level is still refused");
  }

  // A market order, found again after a "restart" by magic + comment in history and positions.
  RubiOrderRequest req;
  req.symbol = "EURUSD";
  req.side = RUBI_BUY;
  req.volume = 0.2;
  req.sl = 1.09;
  req.tp = 1.12;
  req.deviation = 10;
  req.magic = 20261121;
  req.comment = RubiTagComment("rubi", "4d7c2a0e");
  req.filling = RUBI_FILLING_AUTO;
  RubiOrderResult res;
  datetime before = TermTimeServer();
  check(TermMarketOrder(req, res) && res.ok && res.retcode == (mt5 ? 10009 : 0) && res.price == 1.1001 && res.volume == 0.2, "market order fills at ask");
  MqlArray<RubiPosition> positions;
  check(TermPositions(positions) == 1 && RubiFindPosition(positions, 20261121, "rubi 4d7c2a0e") == 0, "open position found by magic and tag");
  check(RubiFindPosition(positions, 1, "rubi 4d7c2a0e") == -1 && RubiFindPosition(positions, 20261121, "rubi ffff") == -1, "other magic or tag not found");
  MqlArray<RubiDeal> deals;
  int n = TermHistoryDeals(before - 60, TermTimeServer() + 60, deals);
  if (mt5) {
    check(n == 1 && RubiFindDeal(deals, 20261121, "rubi 4d7c2a0e", before) == 0, "MT5: the IN deal is in history at once");
  } else {
    check(n == 0, "MT4: an open order is not in history");
  }

  // Rejections carry the trade server's code.
  rubi_sim::sim().reject_next.push_back(mt5 ? 10019 : 134);
  check(!TermMarketOrder(req, res) && res.retcode == (mt5 ? 10019 : 134), "rejection carries the retcode");
  req.volume = 0.015;
  check(!TermMarketOrder(req, res) && res.retcode == (mt5 ? 10014 : 131), "invalid volume refused");
  req.volume = 0.2;
  req.sl = 1.0999;
  check(!TermMarketOrder(req, res) && res.retcode == (mt5 ? 10016 : 130), "invalid stops refused");

  // The market moves; closing books profit into history and the balance.
  TermSleep(90000);
  rubi_sim::set_quote("EURUSD", 1.10210, 1.10220);
  RubiAccount account;
  check(TermAccount(account) && account.login == 51234567, "account");
  check(std::fabs(account.equity - (10000 + 40 + (mt5 ? 0 : -0.7))) < 1e-9, "equity follows the position (200 points x 0.2 lots)");
  long ticket = positions[0].ticket;
  check(TermClosePosition(ticket, 0, 10, res) && res.price == 1.1021 && TermPositions(positions) == 0, "position closed at bid");
  n = TermHistoryDeals(before - 60, TermTimeServer() + 60, deals);
  check(n == 2 && deals[1].entry == RUBI_ENTRY_OUT && deals[1].profit == 40 && deals[1].position_id == ticket, "OUT deal with the profit");
  check(RubiFindDeal(deals, 20261121, "rubi 4d7c2a0e", before) == 0, "IN deal found by magic and tag");
  check(RubiFindDeal(deals, 20261121, "rubi 4d7c2a0e", TermTimeServer() + 1) == -1, "nothing found after `since`");
  check(!TermClosePosition(ticket, 0, 10, res) && res.retcode == 0, "closing twice fails before reaching the server");

  // Server offset: quarter hours, either sign.
  check(RubiServerOffset(1000 + 7200 + 3, 1000) == 7200 && RubiServerOffset(1000 - 10800 - 20, 1000) == -10800 && RubiServerOffset(1000, 1000) == 0, "server offset");
  check(utf8(RubiIsoTime(1763720100)) == "2025-11-21T10:15:00Z" && utf8(RubiIsoTime(0)) == "1970-01-01T00:00:00Z" &&
            utf8(RubiIsoTime(951782400)) == "2000-02-29T00:00:00Z", "ISO time");

  // The log: Print for the terminal's EA log, and Files/<name> with UTC timestamps.
  RubiLogInit(RUBI_LOG_CONNECTOR, 200);
  RubiLogInfo("registered with the backend as external account x");
  RubiLogError("something failed");
  check(mql_host::printed.size() == 2 && mql_host::printed[0] == "registered with the backend as external account x" &&
            mql_host::printed[1] == "ERROR something failed", "Print lines");
  MqlArray<uchar> bytes;
  check(RubiFileRead(RUBI_LOG_CONNECTOR, bytes), "log file written");
  std::string text(bytes.v.begin(), bytes.v.end());
  check(text.find("2025-11-21T10:16:30Z INFO registered with the backend") == 0 && text.find("ERROR something failed\r\n") != std::string::npos, "log file lines");
  RubiLogInfo("a line that goes past the 200 byte limit of this test log, so that the next one rotates the file");
  RubiLogInfo("after rotation");
  check(FileIsExist(RUBI_LOG_CONNECTOR ".1") && RubiFileSize(RUBI_LOG_CONNECTOR) < 100, "log rotated");
  std::printf("done\n");
  return 0;
}

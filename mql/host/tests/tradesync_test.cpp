// tradesync_test.cpp: Rubi/TradeSync.mqh (the provisioned EA's logic) on the host, against the
// simulated terminal and a real HTTP server (a mock in tests/unit/mql-tradesync.test.ts, the real
// backend functions in tests/integration/e2e/mql-tradesync.test.ts). Built for MQL5 and MQL4.
//
// A command interpreter: one command per stdin line (space-separated), one result line each, then
// the EA's Print lines since the previous command as "log <line>".
//   clock <gmt> <offset>                 the sim's UTC clock and the trade server's offset (s)
//   skew <seconds>                       this computer's clock error (TermTimeGmt = UTC + skew)
//   connected <0|1>                      TermConnected()
//   account <login> <server>             the terminal's account (TermAccount)
//   config <account> <register_url> <trades_url> <token> [expires_at]   writes rendr_ea_config.ini
//   start <backfill_days> <batch_size> [backfill_from] [poll]  a new RubiTradeSync + Init (an EA start)
//   cycle | timer                        Cycle() / OnTimer(); prints the EA's status
//   collect <limit> | flush <batches>    one step alone
//   sleep <seconds>                      TermSleep (the sim clock advances)
//   symbol <name> <digits> <tick> <bid> <ask>   quote <name> <bid> <ask>
//   open <symbol> <BUY|SELL> <lots>      a market order in the sim -> "open <ticket>"
//   close <ticket|last> <lots>           closes (part of) it (last: the last opened) -> "close <0|1>"
//   trade <ticket> <symbol> <BUY|SELL> <lots> <open_utc> <close_utc> <open_price> <close_price>
//         <commission> <swap> <profit> [parts]   a closed position booked into history directly
//                                        (one IN deal, `parts` equal OUT deals; times UTC)
//   balance <amount>                     a balance operation in history
//   outbox | aside                       "doc <key> <json>" per item, then "outbox <n>" / "aside <n>"
//   map <offset> <deal>...               RubiTradeFromDeals over deals "type,entry,volume,price,
//                                        time,ticket,commission,swap,profit,magic" (type B/S/O,
//                                        entry I/O/X(in-out)/Y(out-by)) -> "map <ok> <left> <json>"
//   path <text>                          RubiTradesPathIndex
//   pending <comment...>                 the trader places a pending order with that comment -> "pending <ticket>"
//   unpend <ticket|last>                 the trader deletes it (it moves to the order history) -> "unpend <0|1>"
//   horder <setup_utc> <done_utc> <comment...>   a finished order booked into the order history directly
//   extract <text...>                    RubiOwnershipCodesIn over the text -> "extract <codes, comma-separated | ->"
//   codes                                the EA's ownership codes -> "codes <ownership|-> <codes | ->"
// The status line's own=: the last ownership answer (0 none, 1 verified, 2 unverified, 3 owned_elsewhere);
// codes=: codes kept; scans=: TermOrderComments calls so far (the sim counts them); hist=: the last
// Collect's history state (0 none this run, 1 left trades for later, 2 queued all it found);
// synced=: the UTC instant of the last complete read (the report's history_synced_until).
#include <Rubi/TradeSync.mqh>
#include "sim_terminal.hpp"
#include "tests/harness.hpp"

#include <memory>
#include <sstream>

static std::unique_ptr<RubiTradeSync> ea;
static size_t printed_shown = 0;
static long last_opened = 0;
static long last_pending = 0;

static std::string rest_of(const std::vector<std::string> &w, size_t from) {
  std::string out;
  for (size_t i = from; i < w.size(); i++) out += (i > from ? " " : "") + w[i];
  return out;
}

static int ownership_code() {
  std::string o = harness::utf8(ea->Ownership());
  return o == "" ? 0 : o == "verified" ? 1 : o == "unverified" ? 2 : o == "owned_elsewhere" ? 3 : 9;
}

static std::vector<std::string> words(const std::string &line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

static void status(const std::string &what) {
  if (!ea) harness::die(what + ": no EA started");
  std::printf("%s outbox=%d aside=%d requests=%d wm=%ld recent=%d registered=%d halted=%d offset=%d scan_from=%ld poll=%d batch=%d clock=%ld own=%d codes=%d scans=%d hist=%d synced=%ld\n", what.c_str(),
              ea->OutboxCount(), ea->SetAsideCount(), ea->Requests(), (long)ea->Watermark(), ea->RecentCount(), ea->Registered() ? 1 : 0,
              ea->Halted() ? 1 : 0, ea->OffsetKnown() ? ea->Offset() : -1, (long)ea->ScanFrom(), ea->PollSeconds(), ea->BatchSize(), (long)RubiClockOffset(),
              ownership_code(), ea->CodeCount(), (int)rubi_sim::sim().order_scans.size(), ea->HistoryState(), (long)ea->SyncedUntil());
}

static RubiDeal deal_for(long position, int type, int entry, double volume, double price, datetime time, long ticket) {
  RubiDeal d{};
  d.ticket = ticket;
  d.order = ticket;
  d.position_id = position;
  d.time = time;
  d.type = type;
  d.entry = entry;
  d.symbol = "EURUSD";
  d.volume = volume;
  d.price = price;
  d.magic = 0;
  d.comment = "";
  return d;
}

int main() {
  using namespace harness;
  using rubi_sim::sim;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::vector<std::string> w = words(line);
    if (w.empty()) continue;
    const std::string &cmd = w[0];
    if (cmd == "clock") {
      sim().gmt = std::atol(w.at(1).c_str());
      sim().server_offset = std::atoi(w.at(2).c_str());
      std::printf("clock %ld\n", (long)sim().gmt);
    } else if (cmd == "skew") {
      sim().clock_skew = std::atol(w.at(1).c_str());
      std::printf("skew %ld\n", (long)sim().clock_skew);
    } else if (cmd == "account") {
      sim().account.login = std::atol(w.at(1).c_str());
      sim().account.server = string(w.at(2).c_str());
      std::printf("account %ld\n", (long)sim().account.login);
    } else if (cmd == "connected") {
      rubi_sim::connected() = w.at(1) == "1";
      std::printf("connected %s\n", w.at(1).c_str());
    } else if (cmd == "config") {
      std::string text = "; written by tradesync_test\r\n[rendr]\r\nexternal_account_id=" + w.at(1) + "\r\nregister_url=" + w.at(2) +
                         "\r\ntrades_url=" + w.at(3) + "\r\nprovisioning_token=" + w.at(4) + "\r\n";
      if (w.size() > 5) text += "token_expires_at=" + w[5] + "\r\n";
      MqlArray<uchar> bytes;
      bytes.v.assign(text.begin(), text.end());
      std::printf("config %d\n", RubiFileWriteAtomic(RUBI_EA_CONFIG_FILE, bytes, (int)bytes.v.size()) ? 1 : 0);
    } else if (cmd == "start") {
      RubiTradeSyncOptions o;
      o.backfill_days = std::atoi(w.at(1).c_str());
      o.batch_size = std::atoi(w.at(2).c_str());
      if (w.size() > 3) o.backfill_from = std::atol(w[3].c_str());
      if (w.size() > 4) o.poll_seconds = std::atoi(w[4].c_str());
      ea.reset(new RubiTradeSync());
      bool ok = ea->Init(o);
      std::printf("start %d\n", ok ? 1 : 0);
    } else if (cmd == "cycle") {
      ea->Cycle();
      status("cycle");
    } else if (cmd == "timer") {
      ea->OnTimer();
      status("timer");
    } else if (cmd == "collect") {
      int n = ea->Collect(std::atoi(w.at(1).c_str()));
      std::printf("collect %d\n", n);
    } else if (cmd == "flush") {
      bool ok = ea->Flush(std::atoi(w.at(1).c_str()));
      std::printf("flush %d outbox=%d aside=%d\n", ok ? 1 : 0, ea->OutboxCount(), ea->SetAsideCount());
    } else if (cmd == "sleep") {
      TermSleep(std::atoi(w.at(1).c_str()) * 1000);
      std::printf("sleep %ld\n", (long)sim().gmt);
    } else if (cmd == "symbol") {
      double tick = num(w.at(3));
      rubi_sim::add_symbol(w.at(1), std::atoi(w.at(2).c_str()), tick, 1, 100000, 0.01, 100, 0.01, num(w.at(4)), num(w.at(5)));
      std::printf("symbol %s\n", w[1].c_str());
    } else if (cmd == "quote") {
      rubi_sim::set_quote(w.at(1), num(w.at(2)), num(w.at(3)));
      std::printf("quote %s\n", w[1].c_str());
    } else if (cmd == "open") {
      RubiOrderRequest req;
      req.symbol = string(w.at(1).c_str());
      req.side = w.at(2) == "BUY" ? RUBI_BUY : RUBI_SELL;
      req.volume = num(w.at(3));
      req.sl = 0;
      req.tp = 0;
      req.deviation = 10;
      req.magic = 42;
      req.comment = "test";
      req.filling = RUBI_FILLING_AUTO;
      RubiOrderResult res;
      if (!TermMarketOrder(req, res)) die("open failed: " + utf8(res.message));
      last_opened = res.position;
      std::printf("open %ld\n", (long)res.position);
    } else if (cmd == "close") {
      RubiOrderResult res;
      bool ok = TermClosePosition(w.at(1) == "last" ? last_opened : std::atol(w.at(1).c_str()), num(w.at(2)), 10, res);
      std::printf("close %d\n", ok ? 1 : 0);
    } else if (cmd == "trade") {
      long ticket = std::atol(w.at(1).c_str());
      bool buy = w.at(3) == "BUY";
      double lots = num(w.at(4));
      long offset = sim().server_offset;
      datetime open_t = std::atol(w.at(5).c_str()) + offset, close_t = std::atol(w.at(6).c_str()) + offset;
      int parts = w.size() > 12 ? std::atoi(w[12].c_str()) : 1;
      RubiDeal in = deal_for(ticket, buy ? RUBI_DEAL_BUY : RUBI_DEAL_SELL, RUBI_ENTRY_IN, lots, num(w.at(7)), open_t, sim().next_ticket++);
      in.symbol = string(w.at(2).c_str());
      in.magic = 7;
      in.comment = "rubi e2e";
      sim().deals.push_back(in);
      for (int p = 0; p < parts; p++) {
        double part = std::round(lots / parts * 1e8) / 1e8;
        if (p == parts - 1) part = std::round((lots - part * (parts - 1)) * 1e8) / 1e8;
        RubiDeal out = deal_for(ticket, buy ? RUBI_DEAL_SELL : RUBI_DEAL_BUY, RUBI_ENTRY_OUT, part, num(w.at(8)), close_t - (parts - 1 - p) * 60, sim().next_ticket++);
        out.symbol = in.symbol;
        out.magic = 7;
        out.comment = "[tp]";
        out.commission = p == parts - 1 ? num(w.at(9)) : 0;
        out.swap = p == parts - 1 ? num(w.at(10)) : 0;
        out.profit = p == parts - 1 ? num(w.at(11)) : 0;
        sim().deals.push_back(out);
      }
      std::printf("trade %ld\n", ticket);
    } else if (cmd == "balance") {
      RubiDeal d = deal_for(0, RUBI_DEAL_OTHER, RUBI_ENTRY_IN, 0, 0, rubi_sim::server_now(), sim().next_ticket++);
      d.profit = num(w.at(1));
      d.symbol = "";
      sim().deals.push_back(d);
      std::printf("balance\n");
    } else if (cmd == "outbox" || cmd == "aside") {
      int n = cmd == "outbox" ? ea->OutboxCount() : ea->SetAsideCount();
      for (int i = 0; i < n; i++) {
        std::string doc = utf8(cmd == "outbox" ? ea->OutboxDoc(i) : ea->SetAsideDoc(i));
        std::printf("doc %s\n", doc.c_str());
      }
      std::printf("%s %d\n", cmd.c_str(), n);
    } else if (cmd == "map") {
      int offset = std::atoi(w.at(1).c_str());
      MqlArray<RubiDeal> deals;
      for (size_t i = 2; i < w.size(); i++) {
        std::vector<std::string> f;
        std::stringstream ss(w[i]);
        std::string part;
        while (std::getline(ss, part, ',')) f.push_back(part);
        if (f.size() < 10) die("map: deal needs 10 fields: " + w[i]);
        int type = f[0] == "B" ? RUBI_DEAL_BUY : f[0] == "S" ? RUBI_DEAL_SELL : RUBI_DEAL_OTHER;
        int entry = f[1] == "I" ? RUBI_ENTRY_IN : f[1] == "O" ? RUBI_ENTRY_OUT : f[1] == "X" ? RUBI_ENTRY_INOUT : RUBI_ENTRY_OUT_BY;
        RubiDeal d = deal_for(900, type, entry, num(f[2]), num(f[3]), std::atol(f[4].c_str()), std::atol(f[5].c_str()));
        d.commission = num(f[6]);
        d.swap = num(f[7]);
        d.profit = num(f[8]);
        d.magic = std::atol(f[9].c_str());
        d.comment = entry == RUBI_ENTRY_IN ? "opened" : "";
        deals.v.push_back(d);
      }
      RubiSyncTrade t;
      bool ok = RubiTradeFromDeals(deals, t);
      std::printf("map %d %s %s\n", ok ? 1 : 0, dbl(t.open_left).c_str(), ok ? utf8(RubiSyncTradeJson(t, offset)).c_str() : "-");
    } else if (cmd == "pending") {
      last_pending = rubi_sim::place_pending(rest_of(w, 1));
      std::printf("pending %ld\n", last_pending);
    } else if (cmd == "unpend") {
      bool ok = rubi_sim::delete_pending(w.at(1) == "last" ? last_pending : std::atol(w.at(1).c_str()));
      std::printf("unpend %d\n", ok ? 1 : 0);
    } else if (cmd == "horder") {
      long offset = sim().server_offset;
      rubi_sim::history_order(rest_of(w, 3), std::atol(w.at(1).c_str()) + offset, std::atol(w.at(2).c_str()) + offset);
      std::printf("horder\n");
    } else if (cmd == "extract") {
      MqlArray<string> codes;
      int n = RubiOwnershipCodesIn(string(rest_of(w, 1).c_str()), codes, 0, RUBI_TS_OWNERSHIP_MAX);
      std::string list;
      for (int i = 0; i < n; i++) list += (i > 0 ? "," : "") + utf8(codes[i]);
      std::printf("extract %s\n", n > 0 ? list.c_str() : "-");
    } else if (cmd == "codes") {
      if (!ea) die("codes: no EA started");
      std::string list;
      for (int i = 0; i < ea->CodeCount(); i++) list += (i > 0 ? "," : "") + utf8(ea->Code(i));
      std::string own = utf8(ea->Ownership());
      std::printf("codes %s %s\n", own.empty() ? "-" : own.c_str(), list.empty() ? "-" : list.c_str());
    } else if (cmd == "path") {
      std::printf("path %d\n", RubiTradesPathIndex(string(w.size() > 1 ? w[1].c_str() : "")));
    } else {
      die("unknown command: " + cmd);
    }
    for (; printed_shown < mql_host::printed.size(); printed_shown++) std::printf("log %s\n", mql_host::printed[printed_shown].c_str());
    std::fflush(stdout);
  }
  return 0;
}

// connector_test.cpp: Rubi/Connector.mqh on the host, against the simulated terminal and a fake backend
// that tests/unit/mql-connector.test.ts runs (WebRequest is real HTTP). One scenario per run:
//   connector_test <scenario> <backend url> <key id> <secret>
// A "restart" is a second RubiConnector over the same Files folder and the same simulated trade
// server (sim state stays in memory); a "crash" is an exception thrown from the simulated terminal's
// order hooks, unwinding out of the EA's code at that exact point.
// Prints, for the vitest file to check:
//   send <symbol> <side> <volume> <filling> <magic> <comment>   an order filled on the trade server
//   close <ticket>                                              a close sent to the trade server
//   crash <where>                                               the EA "died" there
//   restart                                                     a new EA instance starts
//   note <text>                                                 scenario checkpoints
//   position <ticket> <symbol> <side> <volume> <magic> <comment>  open positions at the end
//   journal <signal id> <state>                                 the journal file at the end
//   counters <received> <executed> <errors>
//   clock <offset>                                              the clock offset learnt from the backend (clock-skew)
//   ok <what> / FAIL: <what>                                     self-checks
#include <Rubi/Connector.mqh>
#include "sim_terminal.hpp"
#include "tests/harness.hpp"

#include <cstdio>

namespace {

struct Crash {
  std::string where;
};

std::string g_crash_before;  // comment tag prefix: throw before this order reaches the trade server
std::string g_crash_after;   // throw after this order filled
bool g_crash_before_close = false;  // throw before the next close reaches the trade server
int g_sent = 0;
int g_closes = 0;

const char *filling_name(int f) { return f == RUBI_FILLING_FOK ? "FOK" : f == RUBI_FILLING_IOC ? "IOC" : f == RUBI_FILLING_RETURN ? "RETURN" : "AUTO"; }

void install_hooks() {
  auto &s = rubi_sim::sim();
  s.before_order = [](const RubiOrderRequest &r) {
    std::string comment = harness::utf8(r.comment);
    if (!g_crash_before.empty() && comment == g_crash_before) {
      g_crash_before.clear();
      throw Crash{"before-send"};
    }
  };
  s.after_order = [](const RubiOrderRequest &r, const RubiOrderResult &) {
    g_sent++;
    std::string comment = harness::utf8(r.comment);
    std::printf("send %s %s %s %s %ld %s\n", harness::utf8(r.symbol).c_str(), r.side == RUBI_BUY ? "BUY" : "SELL", harness::dbl(r.volume).c_str(),
                filling_name(r.filling), (long)r.magic, comment.c_str());
    if (!g_crash_after.empty() && comment == g_crash_after) {
      g_crash_after.clear();
      throw Crash{"after-send"};
    }
  };
  s.before_close = [](long ticket) {
    if (g_crash_before_close) {
      g_crash_before_close = false;
      throw Crash{"before-close"};
    }
    g_closes++;
    std::printf("close %ld\n", ticket);
  };
}

void setup_market() {
  // EURUSD: IOC only, stops level 50 points; XAUUSD: FOK or IOC; GBPUSD: exchange execution (RETURN).
  rubi_sim::add_symbol("EURUSD", 5, 0.00001, 1, 100000, 0.01, 50, 0.01, 1.10000, 1.10010, 50, RUBI_SYMBOL_FILLING_IOC);
  rubi_sim::add_symbol("XAUUSD", 2, 0.01, 1, 100, 0.01, 100, 0.01, 2650.00, 2650.30, 0, RUBI_SYMBOL_FILLING_FOK | RUBI_SYMBOL_FILLING_IOC);
  rubi_sim::add_symbol("GBPUSD", 5, 0.00001, 1, 100000, 0.1, 50, 0.1, 1.27000, 1.27020, 0, 0);
}

struct Options {
  std::string url, key_id, secret;
  bool auto_trading = true;
  double max_risk = 0;
  int max_positions = 0;
  int grace = 0;
  long magic = 777;
};
Options g_o;

void configure(RubiConnectorConfig &c) {
  c.backend_url = string(g_o.url.c_str());
  c.key_id = string(g_o.key_id.c_str());
  c.secret = string(g_o.secret.c_str());
  c.auto_trading = g_o.auto_trading;
  c.max_risk_percent = g_o.max_risk;
  c.max_open_positions = g_o.max_positions;
  c.magic = g_o.magic;
  c.symbols = "EURUSD, XAUUSD,GBPUSD,EURUSD,NOPE";
  c.slippage_points = 10;
  c.reconcile_grace_s = g_o.grace;
}

// Runs one EA instance: Start, then `ticks` timer ticks; a Crash unwinds out of it (no disconnect).
bool run_ea(int ticks, bool disconnect) {
  RubiConnector ea;
  RubiConnectorConfig c;
  configure(c);
  if (!ea.Init(c)) harness::die("journal could not be opened");
  try {
    ea.Start();
    for (int i = 0; i < ticks; i++) {
      ea.Tick();
      rubi_sim::sim().gmt += 5;
    }
  } catch (const Crash &crash) {
    std::printf("crash %s\n", crash.where.c_str());
    return false;
  }
  std::printf("counters %d %d %d\n", ea.SignalsReceived(), ea.OrdersExecuted(), ea.Errors());
  if (disconnect) ea.Disconnect(0);
  return true;
}

// An order placed "by hand" (or by another EA) before the scenario starts.
long place(const char *symbol, int side, double volume, long magic, const char *comment) {
  RubiOrderRequest r;
  r.symbol = symbol;
  r.side = side;
  r.volume = volume;
  r.sl = 0;
  r.tp = 0;
  r.deviation = 10;
  r.magic = magic;
  r.comment = comment;
  r.filling = RUBI_FILLING_AUTO;
  RubiOrderResult res;
  auto hook = rubi_sim::sim().after_order;
  rubi_sim::sim().after_order = nullptr;
  bool ok = TermMarketOrder(r, res);
  rubi_sim::sim().after_order = hook;
  if (!ok) harness::die("setup order failed");
  return res.position;
}

void print_end_state(const std::string &journal_file) {
  for (const auto &p : rubi_sim::sim().positions)
    std::printf("position %ld %s %s %s %ld %s\n", (long)p.ticket, harness::utf8(p.symbol).c_str(), p.side == RUBI_BUY ? "BUY" : "SELL",
                harness::dbl(p.volume).c_str(), (long)p.magic, harness::utf8(p.comment).c_str());
  RubiConnectorJournal j;
  j.Open(string(journal_file.c_str()));
  for (int i = 0; i < j.Count(); i++) std::printf("journal %s %s\n", harness::utf8(j.IdAt(i)).c_str(), harness::utf8(j.StateAt(i)).c_str());
}

std::string tag_of(const char *id) { return harness::utf8(RubiConnectorTag(id)); }

// Drops the last line of a file (a crash before that record was written).
void drop_last_line(const std::string &name) {
  MqlArray<uchar> bytes;
  if (!RubiFileRead(string(name.c_str()), bytes)) harness::die("no file " + name);
  size_t n = bytes.v.size();
  if (n == 0) return;
  size_t end = n - 1;
  while (end > 0 && bytes.v[end - 1] != '\n') end--;
  bytes.v.resize(end);
  RubiFileWriteAtomic(string(name.c_str()), bytes, (int)bytes.v.size());
}

}  // namespace

int main(int argc, char **argv) {
  using namespace harness;
  if (argc < 5) die("usage: connector_test <scenario> <url> <key id> <secret> [signal ids...]");
  std::string scenario = argv[1];
  g_o.url = argv[2];
  g_o.key_id = argv[3];
  g_o.secret = argv[4];
  std::vector<std::string> ids;
  for (int i = 5; i < argc; i++) ids.push_back(argv[i]);
  const std::string journal = "Rubi/connector-777.journal";
  setup_market();
  install_hooks();
  RubiLogInit(RUBI_LOG_CONNECTOR, 0);

  if (scenario == "pure") {
    // Pure helpers: tag, retcode text, config checks, the journal file.
    check(tag_of("4d7c2a0e-5b1f-4c55-9a51-3f4c4f0b2a11") == "rubi:4d7c2a0e5b1f4c559a51", "tag: rubi: + first 20 hex digits");
    check(StringLen(RubiConnectorTag("4D7C2A0E-5B1F-4C55-9A51-3F4C4F0B2A11")) == 25 && tag_of("4D7C2A0E-5B1F-4C55-9A51-3F4C4F0B2A11") == "rubi:4d7c2a0e5b1f4c559a51",
          "tag: 25 characters, lower case");
    check(utf8(RubiRetcodeText(10009)) == "10009 TRADE_RETCODE_DONE: request completed", "retcode text DONE");
    check(utf8(RubiRetcodeText(10019)) == "10019 TRADE_RETCODE_NO_MONEY: there is not enough money to complete the request", "retcode text NO_MONEY");
    check(utf8(RubiRetcodeText(4242)) == "retcode 4242", "unknown retcode");
    RubiConnectorConfig c;
    configure(c);
    check(RubiConnectorConfigProblem(c) == "", "valid inputs");
    c.secret = "not-a-secret";
    check(StringFind(RubiConnectorConfigProblem(c), "KeySecret") == 0, "secret checked");
    configure(c);
    c.backend_url = "ftp://x";
    check(StringFind(RubiConnectorConfigProblem(c), "BackendURL") == 0, "URL checked");
    configure(c);
    c.check_interval_ms = 100;
    check(StringFind(RubiConnectorConfigProblem(c), "CheckInterval") == 0, "interval checked");

    RubiConnectorJournal j;
    check(j.Open("Rubi\\t.journal") && j.Count() == 0, "journal: missing file is empty");
    check(j.Put("a", "{\"state\":\"sending\",\"tag\":\"rubi:a\"}") && j.Put("b", "{\"state\":\"sent\",\"report\":{\"status\":\"FAILED\"}}") &&
              j.Put("a", "{\"state\":\"sent\",\"tag\":\"rubi:a\"}"),
          "journal: three records appended");
    RubiConnectorJournal k;
    check(k.Open("Rubi\\t.journal") && k.Count() == 2 && utf8(k.StateOf("a")) == "sent" && utf8(k.StateOf("b")) == "sent" && k.Unsettled() == 2,
          "journal: the last record of an id wins after a reopen");
    // A crash in the middle of an append leaves a torn last line: ignored, file repaired.
    uchar torn[] = {'d', 'e', 'a', 'd', 'b', 'e', 'e', 'f', '\t', 'a', '\t', '{'};
    MqlArray<uchar> t;
    for (uchar b : torn) t.v.push_back(b);
    RubiFileAppend("Rubi\\t.journal", t, (int)t.v.size());
    RubiConnectorJournal l;
    check(l.Open("Rubi\\t.journal") && l.Dropped() == 1 && l.Count() == 2 && utf8(l.StateOf("a")) == "sent", "journal: torn last line dropped");
    RubiConnectorJournal m;
    check(m.Open("Rubi\\t.journal") && m.Dropped() == 0 && m.Count() == 2, "journal: repaired on disk");
    check(!m.Put("c", "{\"x\":1}\n"), "journal: a record with a line break is refused");
    // Compaction forgets reported records beyond RUBI_JOURNAL_KEEP_REPORTED only when they are older
    // than the signals' lifetime (8 days): a younger one may still be redelivered.
    {
      RubiConnectorJournal big;
      big.Open("Rubi\\big.journal");
      long now = (long)TermTimeGmt();
      for (int i = 0; i < 2300; i++) {
        long gmt = i < 100 ? now - 9 * 86400 : now - 3600;
        std::string doc = "{\"state\":\"reported\",\"tag\":\"rubi:x\",\"gmt\":" + std::to_string(gmt) + "}";
        big.Put(string(("id" + std::to_string(i)).c_str()), string(doc.c_str()));
      }
      RubiConnectorJournal again;
      check(again.Open("Rubi\\big.journal") && again.Count() == 2200 && utf8(again.StateOf("id100")) == "reported" && again.StateOf("id99") == "",
            "journal: compaction drops only reported records older than 8 days");
    }
    std::printf("done\n");
    return 0;
  }

  if (scenario == "execute") {
    // ids: [0] BUY EURUSD 0.237 (normalised to 0.23, IOC), [1] SELL XAUUSD 0.005 (below min),
    // [2] BUY EURUSD stop too close, [3] SELL EURUSD 0.1 rejected by the trade server (10019),
    // [4] BUY NOPE, [5] BUY XAUUSD 0.1 (FOK), [6] SELL GBPUSD 0.25 (RETURN, 0.2).
    // The trade server refuses [3] with NO_MONEY (armed when that order arrives).
    auto base = rubi_sim::sim().before_order;
    std::string no_money = tag_of(ids.at(3).c_str());
    rubi_sim::sim().before_order = [base, no_money](const RubiOrderRequest &r) {
      if (utf8(r.comment) == no_money && rubi_sim::sim().reject_next.empty()) rubi_sim::sim().reject_next.push_back(10019);
      base(r);
    };
    run_ea(3, true);
    print_end_state(journal);
    return 0;
  }

  if (scenario == "autotrading-off") {
    g_o.auto_trading = false;
    place("EURUSD", RUBI_BUY, 0.1, 777, "manual");
    run_ea(2, true);
    print_end_state(journal);
    return 0;
  }

  if (scenario == "max-positions") {
    g_o.max_positions = 2;
    place("EURUSD", RUBI_BUY, 0.1, 777, "rubi:earlier1");
    place("EURUSD", RUBI_BUY, 0.1, 12345, "someone else");
    place("XAUUSD", RUBI_SELL, 0.1, 0, "by hand");
    run_ea(3, true);  // ids: [0] BUY 0.1 (the 2nd of ours: executed), [1] BUY 0.1 (3rd: refused)
    print_end_state(journal);
    return 0;
  }

  if (scenario == "max-risk") {
    g_o.max_risk = 1;
    run_ea(2, true);  // ids: [0] risk_percent 2 (refused), [1] 1 lot with a 100-pip stop (10%: refused), [2] 0.05 lots, 100 pips (0.5%: ok)
    print_end_state(journal);
    return 0;
  }

  if (scenario == "close") {
    place("EURUSD", RUBI_BUY, 0.1, 777, "rubi:a");
    place("EURUSD", RUBI_BUY, 0.2, 777, "rubi:b");
    place("EURUSD", RUBI_BUY, 0.3, 12345, "other EA");
    place("EURUSD", RUBI_SELL, 0.4, 777, "rubi:c");
    place("XAUUSD", RUBI_BUY, 0.5, 777, "rubi:d");
    run_ea(2, true);  // ids: [0] CLOSE_BUY EURUSD, [1] CLOSE_SELL GBPUSD (none)
    print_end_state(journal);
    return 0;
  }

  if (scenario == "crash-after-send") {
    // ids: [0] BUY EURUSD 0.1. The terminal dies right after the order filled, before anything
    // else was written; the restarted EA finds the deal by magic + tag and reports it.
    g_crash_after = tag_of(ids.at(0).c_str());
    check(!run_ea(2, false), "first run crashed after the order");
    print_end_state(journal);
    std::printf("restart\n");
    run_ea(3, true);
    check(g_sent == 1, "exactly one order reached the trade server");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "crash-before-send") {
    // ids: [0] BUY EURUSD 0.1. The terminal dies after "sending" was journaled, before the order
    // left: the restarted EA waits for the grace period, then reports UNKNOWN (outcome unknown).
    g_o.grace = 30;
    g_crash_before = tag_of(ids.at(0).c_str());
    check(!run_ea(2, false), "first run crashed before the order");
    std::printf("restart\n");
    {
      RubiConnector ea;
      RubiConnectorConfig c;
      configure(c);
      ea.Init(c);
      ea.Start();
      ea.Tick();
      check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "sending", "within the grace period the record waits");
      rubi_sim::sim().gmt += 31;
      ea.Tick();
      ea.Tick();
      check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "reported", "after the grace period: settled and reported");
      ea.Disconnect(0);
    }
    check(g_sent == 0 && rubi_sim::sim().positions.empty(), "no order was ever sent");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "crash-before-reported") {
    // ids: [0] BUY EURUSD 0.1. A full run, then the journal loses its last record ("reported"), as
    // if the terminal died between the backend's acknowledgement and that write: the restart sends
    // the same report again, never the order.
    run_ea(2, true);
    drop_last_line(journal);
    std::printf("restart\n");
    run_ea(2, true);
    check(g_sent == 1, "one order");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "report-kept") {
    // ids: [0] BUY EURUSD 0.1: the backend fails the status report (5xx) during the first run; the
    // restarted EA resends the kept report from the journal.
    run_ea(1, false);
    std::printf("restart\n");
    run_ea(2, true);
    check(g_sent == 1, "one order");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "lost-journal") {
    // ids: [0] BUY EURUSD 0.1, executed but not reported (backend down); then the journal file is
    // deleted (a reinstall): the redelivered signal is found in the terminal by its tag.
    run_ea(1, false);
    check(FileDelete(string(journal.c_str())), "journal deleted");
    std::printf("restart\n");
    run_ea(2, true);
    check(g_sent == 1, "one order");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "magic-changed") {
    // ids: [0] BUY EURUSD 0.1, executed but not reported (backend down); the EA is restarted with
    // another MagicNumber, so with another (empty) journal: the redelivered signal is found in the
    // terminal by its tag all the same.
    run_ea(1, false);
    std::printf("restart\n");
    g_o.magic = 778;
    run_ea(2, true);
    check(g_sent == 1, "one order");
    print_end_state("Rubi/connector-778.journal");
    return 0;
  }

  if (scenario == "uncertain") {
    // ids: [0] BUY EURUSD 0.1, answered TRADE_RETCODE_TIMEOUT (nothing filled): not "REJECTED" at
    // once, not retried: settled from history after the grace period (30 s, 5 s per tick).
    g_o.grace = 30;
    rubi_sim::sim().reject_next.push_back(10012);
    run_ea(10, true);
    print_end_state(journal);
    return 0;
  }

  if (scenario == "expired") {
    // ids: [0] BUY EURUSD 0.1 and [1] CLOSE_BUY EURUSD, both past their expires_at by the backend's
    // server_time (a DELIVERED signal redelivered late), [2] BUY EURUSD 0.1 not expired.
    place("EURUSD", RUBI_BUY, 0.2, 777, "rubi:earlier");
    run_ea(2, true);
    check(g_sent == 1, "only the signal that has not expired was sent");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "uncertain-offline") {
    // ids: [0] BUY EURUSD 0.1, answered TRADE_RETCODE_CONNECTION although the trade server filled
    // it; the terminal stays disconnected past the grace period: the record must wait (the fill is
    // not in the history yet), then, connected again, the fill is found: EXECUTED, not UNKNOWN.
    g_o.grace = 30;
    rubi_sim::sim().reject_next.push_back(10031);
    RubiConnector ea;
    RubiConnectorConfig c;
    configure(c);
    ea.Init(c);
    ea.Start();
    ea.Tick();
    check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "sending", "uncertain: sending");
    rubi_sim::connected() = false;
    for (int i = 0; i < 12; i++) {
      rubi_sim::sim().gmt += 5;
      ea.Tick();
    }
    check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "sending", "disconnected past the grace period: still waiting");
    place("EURUSD", RUBI_BUY, 0.1, 777, tag_of(ids.at(0).c_str()).c_str());  // the fill the trade server made
    rubi_sim::connected() = true;
    rubi_sim::sim().gmt += 5;
    ea.Tick();
    ea.Tick();
    check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "reported", "connected again: settled and reported");
    ea.Disconnect(0);
    check(g_sent == 0, "the EA sent no second order");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "close-uncertain-closed") {
    // ids: [0] CLOSE_BUY EURUSD. The trade server closes the position but the answer is
    // TRADE_RETCODE_TIMEOUT, and the terminal loses its connection: nothing is reported while
    // disconnected (even past the grace period); connected again, the position is gone with this
    // EA's closing deal: EXECUTED. The close is never sent again.
    g_o.grace = 30;
    long ticket = place("EURUSD", RUBI_BUY, 0.1, 777, "rubi:a");
    rubi_sim::sim().lost_answer_next.push_back(10012);
    RubiConnector ea;
    RubiConnectorConfig c;
    configure(c);
    ea.Init(c);
    ea.Start();
    ea.Tick();
    check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "sending", "uncertain close: sending");
    check(rubi_sim::sim().positions.empty(), "the trade server closed the position");
    rubi_sim::connected() = false;
    for (int i = 0; i < 12; i++) {
      rubi_sim::sim().gmt += 5;
      ea.Tick();
    }
    check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "sending", "disconnected past the grace period: still waiting");
    std::printf("note connected\n");
    rubi_sim::connected() = true;
    rubi_sim::sim().gmt += 5;
    ea.Tick();
    ea.Tick();
    check(utf8(ea.JournalStateOf(ids.at(0).c_str())) == "reported", "connected again: settled and reported");
    ea.Disconnect(0);
    check(g_closes == 1, "one close was sent for position " + std::to_string(ticket));
    print_end_state(journal);
    return 0;
  }

  if (scenario == "close-uncertain-open") {
    // ids: [0] CLOSE_BUY EURUSD. The close is answered TRADE_RETCODE_CONNECTION and did not reach the
    // trade server: the position stays open. After the grace period (connected) the signal is
    // reported UNKNOWN (outcome unknown); the close is not sent again.
    g_o.grace = 30;
    place("EURUSD", RUBI_BUY, 0.1, 777, "rubi:a");
    rubi_sim::sim().reject_next.push_back(10031);
    run_ea(12, true);
    check(g_closes == 1, "one close was sent");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "close-crash-sl") {
    // ids: [0] CLOSE_BUY EURUSD. The terminal dies after "sending" was journaled, before the close
    // left; meanwhile the trade server closes the position by its stop loss (an OUT deal with the EA's
    // magic, DEAL_REASON_SL). The restart must not report the signal EXECUTED.
    g_o.grace = 30;
    long ticket = place("EURUSD", RUBI_BUY, 0.1, 777, "rubi:a");
    g_crash_before_close = true;
    check(!run_ea(2, false), "first run crashed before the close");
    print_end_state(journal);
    check(rubi_sim::close_by(ticket, RUBI_DEAL_REASON_SL), "stop loss hit");
    std::printf("restart\n");
    rubi_sim::sim().gmt += 31;
    run_ea(3, true);
    check(g_closes == 0, "no close was ever sent");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "close-crash-closed") {
    // ids: [0] CLOSE_BUY EURUSD. The terminal dies after the close reached the trade server (the
    // position is gone, this EA's closing deal is in the history), before the outcome was written:
    // the restart reports EXECUTED by the recorded ticket and closes nothing again.
    g_o.grace = 30;
    long ticket = place("EURUSD", RUBI_BUY, 0.1, 777, "rubi:a");
    place("EURUSD", RUBI_BUY, 0.2, 12345, "other EA");
    g_crash_before_close = true;
    check(!run_ea(2, false), "first run crashed before the close");
    {
      auto hook = rubi_sim::sim().before_close;
      rubi_sim::sim().before_close = nullptr;
      RubiOrderResult res;
      check(TermClosePosition(ticket, 0, 10, res), "the close went through on the trade server");
      rubi_sim::sim().before_close = hook;
    }
    std::printf("restart\n");
    rubi_sim::sim().gmt += 31;
    run_ea(3, true);
    check(g_closes == 0, "no close was sent by the restarted EA");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "close-legacy-record") {
    // ids: [0] CLOSE_BUY EURUSD. A "sending" record written by an earlier version (no tickets) and a
    // closing deal with the EA's magic after it: settled as before, EXECUTED, nothing closed again.
    long ticket = place("EURUSD", RUBI_BUY, 0.1, 777, "rubi:a");
    {
      RubiConnectorJournal j;
      j.Open(string(journal.c_str()));
      std::string doc = "{\"state\":\"sending\",\"tag\":\"" + tag_of(ids.at(0).c_str()) + "\",\"type\":\"CLOSE_BUY\",\"symbol\":\"EURUSD\",\"at\":" +
                        std::to_string((long)TermTimeServer()) + ",\"gmt\":" + std::to_string((long)TermTimeGmt()) + "}";
      check(j.Put(string(ids.at(0).c_str()), string(doc.c_str())), "legacy record written");
      RubiOrderResult res;
      auto hook = rubi_sim::sim().before_close;
      rubi_sim::sim().before_close = nullptr;
      check(TermClosePosition(ticket, 0, 10, res), "closed");
      rubi_sim::sim().before_close = hook;
    }
    run_ea(2, true);
    check(g_closes == 0, "nothing closed by the EA");
    print_end_state(journal);
    return 0;
  }

  if (scenario == "clock-skew") {
    // ids[0]: this computer's clock error in seconds; the backend checks timestamps against its own.
    rubi_sim::sim().clock_skew = std::atol(ids.at(0).c_str());
    run_ea(3, true);
    std::printf("clock %ld\n", (long)RubiClockOffset());
    return 0;
  }

  if (scenario == "session-gone") {
    run_ea(3, true);
    print_end_state(journal);
    return 0;
  }

  die("unknown scenario " + scenario);
}

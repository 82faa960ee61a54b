// connector_e2e.cpp: the RubiStudioConnector EA's logic (Rubi/Connector.mqh) as a long-running
// process against a real backend (tests/integration/e2e/mql-connector.test.ts starts `npm start`),
// over real HTTP, with the simulated terminal as its MetaTrader. What OnInit/OnTimer/OnDeinit do:
// Init + Start, then Tick every --interval-ms, then Disconnect when --stop-file appears.
//
//   connector_e2e --url <functions url> --key-id <id> --state <file> --stop-file <file>
//                 [--interval-ms 200] [--max-seconds 50] [--grace 0]
//                 [--crash-after-send SYMBOL:SIDE] [--crash-before-send SYMBOL:SIDE]
//   secret: $RUBI_EA_SECRET (never on the command line). Files folder: $MQL_FILES_DIR.
//
// The simulated trade server's state (balance, positions, history deals, tickets) is loaded from
// --state at start and saved after every tick and order, as a real trade server keeps it when the
// terminal dies. --crash-after-send exits the process (code 3, no disconnect, nothing else written)
// right after a matching market order filled; --crash-before-send exits right before a matching
// order would reach the trade server (the journal already says "sending"). The sim clock is the
// real UTC clock (signatures are checked against it), trade server time UTC+2.
// Output lines: "started <session id>", "order <symbol> <side> <volume> <ticket> <comment>",
// "crash <where> <comment>", "final position <ticket> <symbol> <side> <volume> <magic> <comment>",
// "final deals <n>", "exit <signals received> <orders executed> <errors>".
#include <Rubi/Connector.mqh>
#include "sim_terminal.hpp"
#include "tests/harness.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace {

std::string arg(int argc, char **argv, const std::string &name, const std::string &fallback) {
  for (int i = 1; i + 1 < argc; i++)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

std::string g_state_file;
std::string g_crash_after;   // "EURUSD:BUY"
std::string g_crash_before;

std::string lots(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string side_name(int side) { return side == RUBI_BUY ? "BUY" : "SELL"; }
std::string key_of(const RubiOrderRequest &r) { return harness::utf8(r.symbol) + ":" + side_name(r.side); }

void save_state() {
  if (g_state_file.empty()) return;
  const auto &s = rubi_sim::sim();
  std::ostringstream o;
  o.precision(17);
  o << "balance " << s.account.balance << "\n" << "next_ticket " << s.next_ticket << "\n";
  for (const auto &p : s.positions)
    o << "P " << p.ticket << " " << harness::utf8(p.symbol) << " " << p.side << " " << p.volume << " " << p.open_price << " " << p.sl << " " << p.tp << " "
      << (long)p.open_time << " " << p.swap << " " << p.commission << " " << p.magic << " " << harness::utf8(p.comment) << "\n";
  for (const auto &d : s.deals)
    o << "D " << d.ticket << " " << d.order << " " << d.position_id << " " << (long)d.time << " " << d.type << " " << d.entry << " " << harness::utf8(d.symbol) << " "
      << d.volume << " " << d.price << " " << d.commission << " " << d.swap << " " << d.profit << " " << d.fee << " " << d.magic << " " << harness::utf8(d.comment) << "\n";
  std::string tmp = g_state_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << o.str();
  }
  std::rename(tmp.c_str(), g_state_file.c_str());
}

std::string rest_of(std::istringstream &in) {
  std::string rest;
  std::getline(in, rest);
  if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
  return rest;
}

void load_state() {
  std::ifstream f(g_state_file);
  if (!f) return;
  auto &s = rubi_sim::sim();
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "balance") in >> s.account.balance;
    else if (kind == "next_ticket") in >> s.next_ticket;
    else if (kind == "P") {
      RubiPosition p{};
      std::string symbol;
      long open_time = 0;
      in >> p.ticket >> symbol >> p.side >> p.volume >> p.open_price >> p.sl >> p.tp >> open_time >> p.swap >> p.commission >> p.magic;
      p.symbol = string(symbol.c_str());
      p.open_time = (datetime)open_time;
      p.comment = string(rest_of(in).c_str());
      s.positions.push_back(p);
    } else if (kind == "D") {
      RubiDeal d{};
      std::string symbol;
      long time = 0;
      in >> d.ticket >> d.order >> d.position_id >> time >> d.type >> d.entry >> symbol >> d.volume >> d.price >> d.commission >> d.swap >> d.profit >> d.fee >> d.magic;
      d.symbol = string(symbol.c_str());
      d.time = (datetime)time;
      d.comment = string(rest_of(in).c_str());
      s.deals.push_back(d);
    }
  }
  // Quotes as set up, so positions get their current price and profit.
  for (const auto &sym : {"EURUSD", "XAUUSD"}) rubi_sim::set_quote(sym, s.symbols.at(sym).bid, s.symbols.at(sym).ask);
}

// The sim clock follows the real clocks: UTC (signatures are checked against it) and GetTickCount
// (milliseconds since boot, as a terminal's; message ids mix it in, so a restart within the same
// second still signs with fresh X-Trade-Ids).
void sync_clock() {
  auto &s = rubi_sim::sim();
  datetime now = (datetime)std::time(nullptr);
  if (now > s.gmt) s.gmt = now;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint tick = (uint)((unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000ull);
  if (tick > s.tick) s.tick = tick;
}

[[noreturn]] void crash(const std::string &where, const RubiOrderRequest &r) {
  save_state();
  std::printf("crash %s %s\n", where.c_str(), harness::utf8(r.comment).c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(3);  // no destructors, no disconnect: the terminal is gone
}

}  // namespace

int main(int argc, char **argv) {
  using namespace harness;
  std::string url = arg(argc, argv, "--url", "");
  std::string key_id = arg(argc, argv, "--key-id", "");
  const char *secret = std::getenv("RUBI_EA_SECRET");
  if (url.empty() || key_id.empty() || !secret) die("usage: connector_e2e --url <functions url> --key-id <id> --state <file> --stop-file <file> (secret in $RUBI_EA_SECRET)");
  g_state_file = arg(argc, argv, "--state", "");
  std::string stop_file = arg(argc, argv, "--stop-file", "");
  int interval_ms = std::atoi(arg(argc, argv, "--interval-ms", "200").c_str());
  int max_seconds = std::atoi(arg(argc, argv, "--max-seconds", "50").c_str());
  g_crash_after = arg(argc, argv, "--crash-after-send", "");
  g_crash_before = arg(argc, argv, "--crash-before-send", "");

  // The account and symbols of the story (EURUSD as the EA simulator's demo: 1 lot, 1 pip = 10 USD).
  rubi_sim::add_symbol("EURUSD", 5, 0.00001, 1, 100000, 0.01, 100, 0.01, 1.08500, 1.08510, 10, RUBI_SYMBOL_FILLING_FOK | RUBI_SYMBOL_FILLING_IOC);
  rubi_sim::add_symbol("XAUUSD", 2, 0.01, 1, 100, 0.01, 50, 0.01, 2650.00, 2650.30, 0, RUBI_SYMBOL_FILLING_IOC);
  rubi_sim::sim().account.login = 51234567;
  load_state();
  sync_clock();

  auto &sim = rubi_sim::sim();
  sim.before_order = [](const RubiOrderRequest &r) {
    if (!g_crash_before.empty() && key_of(r) == g_crash_before) crash("before-send", r);
  };
  sim.after_order = [](const RubiOrderRequest &r, const RubiOrderResult &res) {
    std::printf("order %s %s %s %ld %s\n", utf8(r.symbol).c_str(), side_name(r.side).c_str(), lots(r.volume).c_str(), (long)res.order, utf8(r.comment).c_str());
    std::fflush(stdout);
    if (!g_crash_after.empty() && key_of(r) == g_crash_after) crash("after-send", r);
    save_state();
  };

  RubiLogInit(RUBI_LOG_CONNECTOR, 0);
  RubiConnectorConfig c;
  c.backend_url = string(url.c_str());
  c.key_id = string(key_id.c_str());
  c.secret = string(secret);
  c.check_interval_ms = interval_ms < 500 ? 500 : interval_ms;  // the input's minimum; the test loop may tick faster
  c.auto_trading = true;
  c.max_risk_percent = 2;
  c.max_open_positions = 5;
  c.magic = 20261121;
  c.symbols = "EURUSD,XAUUSD";
  c.slippage_points = 20;
  c.reconcile_grace_s = std::atoi(arg(argc, argv, "--grace", "0").c_str());
  if (RubiConnectorConfigProblem(c) != "") die("inputs: " + utf8(RubiConnectorConfigProblem(c)));
  if (!RubiHmacSelfTest()) die("HMAC self-test failed");

  RubiConnector ea;
  if (!ea.Init(c)) die("journal");
  ea.Start();
  std::printf("started %s\n", utf8(ea.SessionId()).c_str());
  std::fflush(stdout);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    if (!stop_file.empty() && std::ifstream(stop_file).good()) break;
    if (std::chrono::steady_clock::now() > deadline) break;
    sync_clock();
    ea.Tick();
    save_state();
  }
  sync_clock();
  ea.Disconnect(0);
  save_state();
  for (const auto &p : sim.positions)
    std::printf("final position %ld %s %s %s %ld %s\n", (long)p.ticket, utf8(p.symbol).c_str(), side_name(p.side).c_str(), lots(p.volume).c_str(), (long)p.magic,
                utf8(p.comment).c_str());
  std::printf("final deals %zu\n", sim.deals.size());
  std::printf("exit %d %d %d\n", ea.SignalsReceived(), ea.OrdersExecuted(), ea.Errors());
  return 0;
}

// http_test.cpp: Rubi/Http.mqh against a real HTTP server (tests/unit/mql-http.test.ts starts one),
// through the host's WebRequest (libcurl). Sleeping is simulated: TermSleep records the delays.
//   http_test <mode> <method> <url> [json] [secret] [signer id] [max attempts] [allow prefix]
//             [clock skew s] [calls] [idempotent 0|1]
//     mode: json (unsigned) | signed (X-Account-Id)
//     clock skew: this computer's clock error (rubi_sim clock_skew); calls: the request is made this
//     many times (the later ones show the clock offset learnt by the first is kept)
// Prints: "result <ok> <status> <attempts> <error> <blocked> <retry_after>", "sleeps <ms,...>",
// "body <hex of the response body UTF-8>", "signed <clock offset s> <clock_resynced> <applied_earlier>",
// one "again <ok> <status> <attempts> <clock_resynced>" per later call, then every Print line as "print <line>".
#include <Rubi/Http.mqh>
#include "sim_terminal.hpp"
#include "tests/harness.hpp"

int main(int argc, char **argv) {
  using namespace harness;
  if (argc < 4) die("usage: http_test <mode> <method> <url> [json] [secret] [signer id] [max attempts] [allow prefix]");
  std::string mode = argv[1];
  string method(argv[2]), url(argv[3]);
  string json(argc > 4 ? argv[4] : "");
  string secret(argc > 5 ? argv[5] : "");
  string signer(argc > 6 ? argv[6] : "");
  RubiHttpOptions o;
  o.timeout_ms = 3000;
  if (argc > 7) o.max_attempts = std::atoi(argv[7]);
  if (argc > 8 && argv[8][0]) mql_host::allowed_urls.push_back(argv[8]);
  if (argc > 9) rubi_sim::sim().clock_skew = std::atol(argv[9]);
  int calls = argc > 10 ? std::atoi(argv[10]) : 1;
  if (argc > 11) o.idempotent = std::string(argv[11]) != "0";
  RubiLogInit("RubiConnector.log", 0);
  RubiHttpResponse r;
  bool ok = mode == "signed" ? RubiHttpSigned(method, url, json, RUBI_HEADER_ACCOUNT_ID, signer, secret, o, r) : RubiHttpJson(method, url, json, o, r);
  std::printf("result %d %d %d %d %d %d\n", ok ? 1 : 0, r.status, r.attempts, r.error, r.blocked ? 1 : 0, r.retry_after_s);
  std::string sleeps;
  for (int ms : rubi_sim::sim().sleeps) sleeps += (sleeps.empty() ? "" : ",") + std::to_string(ms);
  std::printf("sleeps %s\n", sleeps.c_str());
  MqlArray<uchar> body;
  RubiUtf8Encode(r.body, body);
  std::printf("body %s\n", hex_of(body).c_str());
  std::printf("signed %ld %d %d\n", (long)RubiClockOffset(), r.clock_resynced ? 1 : 0, r.applied_earlier ? 1 : 0);
  for (int i = 1; i < calls; i++) {
    RubiHttpResponse again;
    bool again_ok = mode == "signed" ? RubiHttpSigned(method, url, json, RUBI_HEADER_ACCOUNT_ID, signer, secret, o, again)
                                     : RubiHttpJson(method, url, json, o, again);
    std::printf("again %d %d %d %d\n", again_ok ? 1 : 0, again.status, again.attempts, again.clock_resynced ? 1 : 0);
  }
  for (const auto &p : mql_host::printed) std::printf("print %s\n", p.c_str());
  return 0;
}

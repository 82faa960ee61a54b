// http_test.cpp: Rubi/Http.mqh against a real HTTP server (tests/unit/mql-http.test.ts starts one),
// through the host's WebRequest (libcurl). Sleeping is simulated: TermSleep records the delays.
//   http_test <mode> <method> <url> [json] [secret] [signer id] [max attempts] [allow prefix]
//     mode: json (unsigned) | signed (X-Account-Id)
// Prints: "result <ok> <status> <attempts> <error> <blocked> <retry_after>", "sleeps <ms,...>",
// "body <hex of the response body UTF-8>", then every Print line as "print <line>".
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
  for (const auto &p : mql_host::printed) std::printf("print %s\n", p.c_str());
  return 0;
}

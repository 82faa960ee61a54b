// ini_test.cpp: Rubi/Ini.mqh on the host. `ini_test <file name in the Files folder>` loads the EA
// config from it and prints one "key=value" line per field (or "error=<message>"), then the
// number of entries and the value of "[Other] Key" (a second section, for the section rules).
#include <Rubi/Ini.mqh>
#include "tests/harness.hpp"

int main(int argc, char **argv) {
  using namespace harness;
  if (argc < 2) die("usage: ini_test <file>");
  RubiIni ini;
  if (!ini.Load(string(argv[1]))) {
    std::printf("load=failed\n");
    return 0;
  }
  RubiEaConfig c;
  string error;
  if (RubiEaConfigFrom(ini, c, error)) {
    std::printf("external_account_id=%s\n", utf8(c.external_account_id).c_str());
    std::printf("register_url=%s\n", utf8(c.register_url).c_str());
    std::printf("trades_url=%s\n", utf8(c.trades_url).c_str());
    std::printf("provisioning_token=%s\n", utf8(c.provisioning_token).c_str());
    std::printf("token_expires_at=%s\n", utf8(c.token_expires_at).c_str());
  } else {
    std::printf("error=%s\n", utf8(error).c_str());
  }
  std::printf("count=%d\n", ini.Count());
  std::printf("other=%s\n", utf8(ini.Get("other", "KEY", "(none)")).c_str());
  return 0;
}

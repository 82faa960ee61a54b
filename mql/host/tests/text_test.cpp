// text_test.cpp: the time functions of Rubi/Text.mqh on the host. One command per stdin line
// (tab-separated), one answer per line:
//   iso <text>      -> "1 <seconds since 1970, UTC>" from RubiIsoParse, or "0" when it refuses the text
//   fmt <seconds>   -> RubiIsoTime
#include <Rubi/Text.mqh>
#include "tests/harness.hpp"

int main() {
  using namespace harness;
  std::string line;
  while (std::getline(std::cin, line)) {
    auto f = split_tabs(line);
    const std::string &cmd = f[0];
    if (cmd == "iso") {
      datetime t = (datetime)-7;
      bool ok = RubiIsoParse(string(f.size() > 1 ? f[1].c_str() : ""), t);
      if (!ok && (long)t != -7) die("RubiIsoParse changed its output on failure");
      if (ok)
        std::printf("1 %ld\n", (long)t);
      else
        std::printf("0\n");
    } else if (cmd == "fmt") {
      std::printf("%s\n", utf8(RubiIsoTime((datetime)std::atol(f.at(1).c_str()))).c_str());
    } else {
      die("unknown command: " + cmd);
    }
    std::fflush(stdout);
  }
  return 0;
}

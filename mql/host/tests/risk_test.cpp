// risk_test.cpp: Rubi/Risk.mqh on the host, compared by tests/unit/mql-risk.test.ts with
// functions/signals/risk.ts. One command per stdin line (numbers as JavaScript's String() writes
// them), one answer per line (numbers as %.17g):
//   size <equity> <risk%> <entry> <sl> <tick_size> <tick_value> <min> <max> <step>
//        -> ok reason volume risk_amount ticks loss_per_lot raw_volume capped message (tab separated)
//   places <x> | distance <a> <b> | steps <v> <step> | floor <v> <step> | tovolume <n> <step>
//   multiple <v> <step> | problem <v> <min> <max> <step> | normalize <v> <min> <max> <step>
#include <Rubi/Risk.mqh>
#include "tests/harness.hpp"

int main() {
  using namespace harness;
  std::string line;
  while (std::getline(std::cin, line)) {
    auto f = split_tabs(line);
    const std::string &cmd = f[0];
    if (cmd == "size") {
      RubiRiskSpec spec;
      spec.tick_size = num(f[5]);
      spec.tick_value = num(f[6]);
      spec.volume_min = num(f[7]);
      spec.volume_max = num(f[8]);
      spec.volume_step = num(f[9]);
      RubiRiskSizing r;
      RubiSizeByRisk(num(f[1]), num(f[2]), num(f[3]), num(f[4]), spec, r);
      std::printf("%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ok ? 1 : 0, utf8(r.reason).c_str(), dbl(r.volume).c_str(), dbl(r.risk_amount).c_str(),
                  dbl(r.ticks).c_str(), dbl(r.loss_per_lot).c_str(), dbl(r.raw_volume).c_str(), r.capped_at_max ? 1 : 0, utf8(r.message).c_str());
    } else if (cmd == "places") {
      std::printf("%d\n", RubiDecimalPlaces(num(f[1])));
    } else if (cmd == "distance") {
      std::printf("%s\n", dbl(RubiDecimalDistance(num(f[1]), num(f[2]))).c_str());
    } else if (cmd == "steps") {
      std::printf("%s\n", dbl(RubiWholeSteps(num(f[1]), num(f[2]))).c_str());
    } else if (cmd == "floor") {
      std::printf("%s\n", dbl(RubiFloorToStep(num(f[1]), num(f[2]))).c_str());
    } else if (cmd == "tovolume") {
      std::printf("%s\n", dbl(RubiStepsToVolume(num(f[1]), num(f[2]))).c_str());
    } else if (cmd == "multiple") {
      std::printf("%d\n", RubiIsMultipleOfStep(num(f[1]), num(f[2])) ? 1 : 0);
    } else if (cmd == "problem" || cmd == "normalize") {
      RubiVolumeSpec spec;
      spec.volume_min = num(f[2]);
      spec.volume_max = num(f[3]);
      spec.volume_step = num(f[4]);
      if (cmd == "problem") {
        std::printf("%s\n", utf8(RubiVolumeProblem(num(f[1]), spec)).c_str());
      } else {
        double out = 0;
        string reason;
        bool ok = RubiNormalizeVolume(num(f[1]), spec, out, reason);
        std::printf("%d\t%s\t%s\n", ok ? 1 : 0, dbl(out).c_str(), utf8(reason).c_str());
      }
    } else {
      die("unknown command " + cmd);
    }
  }
  return 0;
}

// outbox_test.cpp: Rubi/Outbox.mqh across restarts. Each run of the program is one life of the EA:
//   outbox_test <file> <max items> <command>...   commands: append:<key>:<json>  ack:<key>[,<key>...]
// It opens the outbox, runs the commands (printing "append <key> <result>" / "ack <n>"), then
// prints "dropped <n>" and every pending item as "item <key> <json>". Exits without any cleanup:
// the next run sees exactly what a restarted terminal would.
#include <Rubi/Outbox.mqh>
#include "tests/harness.hpp"

int main(int argc, char **argv) {
  using namespace harness;
  if (argc < 3) die("usage: outbox_test <file> <max items> [commands]");
  RubiOutbox box;
  if (!box.Open(string(argv[1]), std::atoi(argv[2]))) die("open failed: " + utf8(box.Error()));
  std::printf("dropped %d\n", box.Dropped());
  for (int i = 3; i < argc; i++) {
    std::string c = argv[i];
    if (c.rfind("append:", 0) == 0) {
      size_t colon = c.find(':', 7);
      std::string key = c.substr(7, colon - 7), doc = c.substr(colon + 1);
      int r = box.Append(string(key.c_str()), string(doc.c_str()));
      std::printf("append %s %d%s\n", key.c_str(), r, r < 0 ? (" " + utf8(box.Error())).c_str() : "");
    } else if (c.rfind("ack:", 0) == 0) {
      MqlArray<string> keys;
      StringSplit(string(c.substr(4).c_str()), ',', keys);
      std::printf("ack %d\n", box.AckMany(keys));
    } else {
      die("unknown command " + c);
    }
  }
  for (int i = 0; i < box.Count(); i++) std::printf("item %s %s\n", utf8(box.KeyAt(i)).c_str(), utf8(box.DocAt(i)).c_str());
  return 0;
}

// json_test.cpp: Rubi/Json.mqh and the number formatting of Rubi/Text.mqh on the host. One command
// per stdin line, one answer per line:
//   quote <u16hex>           -> RubiJsonQuote of the string (ASCII JSON)
//   num <number as JS wrote it>   -> RubiNumber
//   digits <number> <d>      -> RubiNumberDigits
//   parse <u16hex>           -> "OK\t<the parsed tree written again>" or "ERR\t<message>"
//   writer                   -> a fixed document using every writer call, then the misuse checks
//   accessors                -> lookups on a response shaped like POST /trades's
//   utf8 <u16hex>            -> hex of RubiUtf8Encode; then "\t" + u16hex of decoding it back
//   decode <bytes hex>       -> u16hex of RubiUtf8Decode + "\t" + valid(1/0)
#include <Rubi/Json.mqh>
#include "tests/harness.hpp"

// "é😀" as UTF-16 units.
static bool utf16_ok(const string &s) { return s.s == std::u16string({0x00e9, 0xd83d, 0xde00}); }

int main() {
  using namespace harness;
  std::string line;
  while (std::getline(std::cin, line)) {
    auto f = split_tabs(line);
    const std::string &cmd = f[0];
    if (cmd == "quote") {
      std::printf("%s\n", utf8(RubiJsonQuote(str16(f[1]))).c_str());
    } else if (cmd == "num") {
      std::printf("%s\n", utf8(RubiNumber(num(f[1]))).c_str());
    } else if (cmd == "digits") {
      std::printf("%s\n", utf8(RubiNumberDigits(num(f[1]), std::stoi(f[2]))).c_str());
    } else if (cmd == "parse") {
      RubiJson j;
      if (!j.Parse(str16(f[1]))) {
        std::printf("ERR\t%s\n", utf8(j.Error()).c_str());
        continue;
      }
      RubiJsonWriter w;
      j.WriteTo(j.Root(), w);
      if (!w.Ok()) die("writer refused a parsed tree");
      std::printf("OK\t%s\n", utf8(w.Text()).c_str());
    } else if (cmd == "writer") {
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyStr("s", "a\"b\\c\n");
      w.KeyNum("n", 0.1);
      w.KeyNumDigits("price", 1.1, 5);
      w.KeyInt("big", 9007199254740993L);
      w.KeyBool("t", true);
      w.KeyBool("f", false);
      w.KeyNull("z");
      w.KeyRaw("raw", "[1,2]");
      w.Key("arr");
      w.BeginArray();
      w.Num(-0.0);
      w.Num(1e300 * 1e300);
      w.BeginObject();
      w.EndObject();
      w.BeginArray();
      w.EndArray();
      w.EndArray();
      w.EndObject();
      std::printf("%s\t%d\n", utf8(w.Text()).c_str(), w.Ok() ? 1 : 0);
      // Misuse: a value without a key in an object, a key in an array, unbalanced ends, two roots.
      RubiJsonWriter a;
      a.BeginObject();
      a.Str("x");
      a.EndObject();
      RubiJsonWriter b;
      b.BeginArray();
      b.Key("k");
      b.EndArray();
      RubiJsonWriter c;
      c.BeginArray();
      c.EndObject();
      RubiJsonWriter d;
      d.Int(1);
      d.Int(2);
      RubiJsonWriter e;
      e.BeginObject();
      e.Key("k");
      e.EndObject();
      RubiJsonWriter g;
      g.BeginArray();
      std::printf("%d%d%d%d%d%d\n", a.Ok() ? 1 : 0, b.Ok() ? 1 : 0, c.Ok() ? 1 : 0, d.Ok() ? 1 : 0, e.Ok() ? 1 : 0, g.Ok() ? 1 : 0);
    } else if (cmd == "accessors") {
      RubiJson j;
      bool ok = j.Parse(" {\"accepted\":[101,102],\"duplicates\":[],\"cashback_accrued\":1.25,\"server_time\":\"2025-11-21T10:15:00.000Z\","
                        "\"ticket\":9007199254740993,\"flag\":true,\"none\":null,\"nested\":{\"a\":{\"b\":[\"x\",\"\\u00e9\\ud83d\\ude00\"]}},"
                        "\"dup\":1,\"dup\":2} ");
      check(ok, "parses a trades response");
      int root = j.Root();
      check(j.Type(root) == RUBI_JSON_OBJECT && j.Count(root) == 10, "root is an object of 10 members");
      int acc = j.Key(root, "accepted");
      check(j.Type(acc) == RUBI_JSON_ARRAY && j.Count(acc) == 2 && j.Long(j.Item(acc, 1)) == 102, "array items");
      long sum = 0;
      for (int n = j.First(acc); n >= 0; n = j.Next(n)) sum += j.Long(n);
      check(sum == 203, "iteration with First/Next");
      check(j.Count(j.Key(root, "duplicates")) == 0 && j.First(j.Key(root, "duplicates")) == -1, "empty array");
      check(j.GetNum(root, "cashback_accrued", -1) == 1.25, "GetNum");
      check(utf8(j.GetStr(root, "server_time", "")) == "2025-11-21T10:15:00.000Z", "GetStr");
      check(j.GetLong(root, "ticket", 0) == 9007199254740993L, "GetLong keeps integers beyond 2^53");
      check(j.GetBool(root, "flag", false) && j.IsNull(j.Key(root, "none")), "bool and null");
      check(j.GetStr(root, "missing", "fallback") == "fallback" && j.Key(root, "missing") == -1, "missing key");
      check(j.GetStr(root, "cashback_accrued", "fb") == "fb", "wrong type gives the fallback");
      int b = j.Key(j.Key(j.Key(root, "nested"), "a"), "b");
      check(utf16_ok(j.Str(j.Item(b, 1))), "unicode escapes");
      check(j.GetLong(root, "dup", 0) == 2, "the last duplicate key wins");
      check(j.Item(acc, 5) == -1 && j.Key(acc, "x") == -1 && j.Type(-1) == RUBI_JSON_NONE, "out of range lookups");
      check(utf8(j.Name(j.Key(root, "flag"))) == "flag", "Name");
    } else if (cmd == "utf8") {
      MqlArray<uchar> bytes;
      int n = RubiUtf8Encode(str16(f[1]), bytes);
      string back;
      bool valid = RubiUtf8Decode(bytes, 0, n, back);
      std::printf("%s\t%s\t%d\n", hex_of(bytes).c_str(), mql_host::utf16_hex(back).c_str(), valid ? 1 : 0);
    } else if (cmd == "decode") {
      MqlArray<uchar> bytes = bytes_from_hex(f[1]);
      string out;
      bool valid = RubiUtf8Decode(bytes, 0, ArraySize(bytes), out);
      std::printf("%s\t%d\n", mql_host::utf16_hex(out).c_str(), valid ? 1 : 0);
    } else {
      die("unknown command " + cmd);
    }
  }
  return 0;
}

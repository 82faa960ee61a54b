// crypto_test.cpp: HMAC-SHA256, base64 and Standard Webhooks signing (Rubi/Hmac.mqh,
// Rubi/Webhooks.mqh) on the host. One command per stdin line, one answer per line:
//   hmac <key hex> <message hex>                -> mac hex
//   sign <secret u16hex> <id u16hex> <ts> <body u16hex>  -> "v1,..." or ERR
//   b64dec <text u16hex>                        -> bytes hex, or ERR
//   b64enc <bytes hex>                          -> base64
//   headers <key id u16hex> <id u16hex> <ts> <signature u16hex> -> the header block, hex of its UTF-8
//   msgid                                       -> a new message id
//   selftest                                    -> ok / fail
// MQL_BASE64_WRAP=<n> makes CryptEncode(CRYPT_BASE64) wrap lines as some terminals do.
#include <Rubi/Hmac.mqh>
#include <Rubi/Webhooks.mqh>
#include "sim_terminal.hpp"
#include "tests/harness.hpp"

int main() {
  using namespace harness;
  if (const char *wrap = std::getenv("MQL_BASE64_WRAP")) mql_host::base64_line_length = std::atoi(wrap);
  std::string line;
  while (std::getline(std::cin, line)) {
    auto f = split_tabs(line);
    const std::string &cmd = f[0];
    if (cmd == "hmac") {
      MqlArray<uchar> key = bytes_from_hex(f[1]), msg = bytes_from_hex(f[2]), mac;
      std::printf("%s\n", RubiHmacSha256(key, msg, ArraySize(msg), mac) ? hex_of(mac).c_str() : "ERR");
    } else if (cmd == "sign") {
      RubiSignature sig;
      bool ok = RubiSignBody(str16(f[1]), str16(f[2]), std::stol(f[3]), str16(f[4]), sig);
      std::printf("%s\n", ok ? utf8(sig.signature).c_str() : "ERR");
    } else if (cmd == "b64dec") {
      MqlArray<uchar> out;
      std::printf("%s\n", RubiBase64Decode(str16(f[1]), out) ? (hex_of(out) + ".").c_str() : "ERR");
    } else if (cmd == "b64enc") {
      MqlArray<uchar> in = bytes_from_hex(f[1]);
      std::printf("%s.\n", utf8(RubiBase64Encode(in, ArraySize(in))).c_str());
    } else if (cmd == "headers") {
      RubiSignature sig;
      sig.id = str16(f[2]);
      sig.timestamp = string(f[3].c_str());
      sig.signature = str16(f[4]);
      MqlArray<uchar> bytes;
      RubiUtf8Encode(RubiSignedHeaders(RUBI_HEADER_KEY_ID, str16(f[1]), sig), bytes);
      std::printf("%s.\n", hex_of(bytes).c_str());
    } else if (cmd == "msgid") {
      rubi_sim::sim().tick += 1;
      std::printf("%s\n", utf8(RubiNewMessageId()).c_str());
    } else if (cmd == "selftest") {
      std::printf("%s\n", RubiHmacSelfTest() ? "ok" : "fail");
    } else {
      die("unknown command " + cmd);
    }
  }
  return 0;
}

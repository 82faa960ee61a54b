// harness.hpp: small helpers for the C++ host test programs (not MQL): line-based stdin protocol,
// hex transport of arbitrary strings (UTF-16 units, so lone surrogates survive), output, checks.
// The vitest files in tests/unit/mql-*.test.ts write the input and assert on the output.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace harness {

inline std::vector<std::string> split_tabs(const std::string &line) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t t = line.find('\t', pos);
    out.push_back(line.substr(pos, t == std::string::npos ? std::string::npos : t - pos));
    if (t == std::string::npos) break;
    pos = t + 1;
  }
  return out;
}

inline MqlArray<uchar> bytes_from_hex(const std::string &hex) {
  MqlArray<uchar> out;
  for (size_t i = 0; i + 2 <= hex.size(); i += 2) out.v.push_back((uchar)std::stoul(hex.substr(i, 2), nullptr, 16));
  return out;
}

inline std::string hex_of(const MqlArray<uchar> &bytes) {
  static const char *digits = "0123456789abcdef";
  std::string out;
  for (uchar b : bytes.v) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

inline string str16(const std::string &hex) { return mql_host::from_utf16_hex(hex); }
inline std::string utf8(const string &s) { return mql_host::to_utf8(s); }

// A double exactly as written by JavaScript's String(x) (strtod is correctly rounded).
inline double num(const std::string &text) { return std::strtod(text.c_str(), nullptr); }

// A double as text that JavaScript's Number() reads back exactly.
inline std::string dbl(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

[[noreturn]] inline void die(const std::string &message) {
  std::fprintf(stderr, "FAIL: %s\n", message.c_str());
  std::exit(1);
}

inline void check(bool condition, const std::string &what) {
  if (!condition) die(what);
  std::printf("ok %s\n", what.c_str());
}

}  // namespace harness

// mql_compat.cpp: the definitions behind mql_compat.hpp (MQL built-in functions on the host). Compiled
// once per platform (-D__MQL5__ or -D__MQL4__) into an object the host test programs link with, against
// libcrypto (SHA-256, base64) and libcurl (WebRequest).
#include "mql_compat.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <thread>

namespace fs = std::filesystem;

namespace mql_host {
static std::string env_or(const char *name, const char *fallback) {
  const char *v = std::getenv(name);
  return v && *v ? v : fallback;
}
std::string files_dir = env_or("MQL_FILES_DIR", "Files");
std::string common_dir;
std::vector<std::string> printed;
bool print_to_stderr = std::getenv("MQL_PRINT_STDERR") != nullptr;
std::vector<std::string> allowed_urls;
int base64_line_length = 0;
bool stopped = false;

std::string to_utf8(const string &str) {
  std::string out;
  const std::u16string &s = str.s;
  for (size_t i = 0; i < s.size(); i++) {
    uint32_t c = s[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      i++;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      c = 0xFFFD;
    }
    if (c < 0x80) {
      out += (char)c;
    } else if (c < 0x800) {
      out += (char)(0xC0 | (c >> 6));
      out += (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += (char)(0xE0 | (c >> 12));
      out += (char)(0x80 | ((c >> 6) & 0x3F));
      out += (char)(0x80 | (c & 0x3F));
    } else {
      out += (char)(0xF0 | (c >> 18));
      out += (char)(0x80 | ((c >> 12) & 0x3F));
      out += (char)(0x80 | ((c >> 6) & 0x3F));
      out += (char)(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// Invalid sequences become U+FFFD (one per maximal invalid prefix, like the WHATWG decoder).
string from_utf8(const std::string &b) {
  std::u16string out;
  size_t i = 0, n = b.size();
  while (i < n) {
    unsigned char c = (unsigned char)b[i];
    uint32_t cp = 0;
    size_t need = 0;
    uint32_t lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      out += (char16_t)c;
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      cp = c & 0x0F;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      cp = c & 0x07;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      out += (char16_t)0xFFFD;
      i++;
      continue;
    }
    size_t j = 1;
    bool ok = true;
    for (; j <= need; j++) {
      if (i + j >= n) {
        ok = false;
        break;
      }
      unsigned char d = (unsigned char)b[i + j];
      if (d < lo || d > hi) {
        ok = false;
        break;
      }
      lo = 0x80;
      hi = 0xBF;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (!ok) {
      out += (char16_t)0xFFFD;
      i += j;
      continue;
    }
    i += need + 1;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += (char16_t)(0xD800 + (cp >> 10));
      out += (char16_t)(0xDC00 + (cp & 0x3FF));
    } else {
      out += (char16_t)cp;
    }
  }
  return string(out);
}

string from_utf16_hex(const std::string &hex) {
  std::u16string out;
  for (size_t i = 0; i + 4 <= hex.size(); i += 4) out += (char16_t)std::stoul(hex.substr(i, 4), nullptr, 16);
  return string(out);
}

std::string utf16_hex(const string &s) {
  std::string out;
  char buf[8];
  for (char16_t c : s.s) {
    std::snprintf(buf, sizeof buf, "%04x", (unsigned)c);
    out += buf;
  }
  return out;
}
}  // namespace mql_host

string::string(const char *utf8) {
  if (utf8) s = mql_host::from_utf8(utf8).s;
}

void mql_array_out_of_range(long index, long size) {
  std::fprintf(stderr, "critical error: array out of range (index %ld, size %ld)\n", index, size);
  std::abort();
}

// ---------------------------------------------------------------------------------------------------
// Time and system
datetime TimeGMT() { return (datetime)std::time(nullptr); }
datetime TimeCurrent() { return TimeGMT(); }
datetime TimeLocal() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return (datetime)(now + local.tm_gmtoff);
}
uint GetTickCount() {
  using namespace std::chrono;
  return (uint)duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
ulong GetMicrosecondCount() {
  using namespace std::chrono;
  return (ulong)duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}
void Sleep(int ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}
bool IsStopped() { return mql_host::stopped; }

bool TimeToStruct(datetime t, MqlDateTime &dt) {
  std::time_t tt = (std::time_t)t;
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) return false;
  dt = MqlDateTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_wday, tm.tm_yday};
  return true;
}
datetime StructToTime(MqlDateTime &dt) {
  std::tm tm{};
  tm.tm_year = dt.year - 1900;
  tm.tm_mon = dt.mon - 1;
  tm.tm_mday = dt.day;
  tm.tm_hour = dt.hour;
  tm.tm_min = dt.min;
  tm.tm_sec = dt.sec;
  return (datetime)timegm(&tm);
}
string TimeToString(datetime t, int mode) {
  MqlDateTime d{};
  TimeToStruct(t, d);
  char buf[64] = "";
  std::string out;
  if (mode & TIME_DATE) {
    std::snprintf(buf, sizeof buf, "%04d.%02d.%02d", d.year, d.mon, d.day);
    out = buf;
  }
  if (mode & (TIME_MINUTES | TIME_SECONDS)) {
    if (!out.empty()) out += " ";
    if (mode & TIME_SECONDS)
      std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", d.hour, d.min, d.sec);
    else
      std::snprintf(buf, sizeof buf, "%02d:%02d", d.hour, d.min);
    out += buf;
  }
  return string(out.c_str());
}

// The C runtime's rand() as MetaTrader's MathRand behaves: 15-bit values, deterministic per seed.
static uint32_t g_rand_state = 1;
void MathSrand(uint seed) { g_rand_state = seed; }
int MathRand() {
  g_rand_state = g_rand_state * 214013u + 2531011u;
  return (int)((g_rand_state >> 16) & 0x7FFF);
}

// ---------------------------------------------------------------------------------------------------
// Strings
int StringLen(const string &s) { return (int)s.s.size(); }
string StringSubstr(const string &s, int start, int length) {
  int n = (int)s.s.size();
  if (start < 0 || start >= n) return string();
  if (length < 0 || start + length > n) length = n - start;
  return string(s.s.substr((size_t)start, (size_t)length));
}
int StringFind(const string &s, const string &match, int start) {
  if (match.s.empty() || start < 0) return -1;
  size_t p = s.s.find(match.s, (size_t)start);
  return p == std::u16string::npos ? -1 : (int)p;
}
int StringReplace(string &s, const string &find, const string &replacement) {
  if (find.s.empty()) return -1;
  int count = 0;
  std::u16string out;
  size_t pos = 0;
  for (;;) {
    size_t p = s.s.find(find.s, pos);
    if (p == std::u16string::npos) break;
    out += s.s.substr(pos, p - pos);
    out += replacement.s;
    pos = p + find.s.size();
    count++;
  }
  out += s.s.substr(pos);
  s.s = out;
  return count;
}
ushort StringGetCharacter(const string &s, int pos) {
  if (pos < 0 || pos >= (int)s.s.size()) return 0;
  return (ushort)s.s[(size_t)pos];
}
bool StringSetCharacter(string &s, int pos, ushort c) {
  if (pos < 0 || pos > (int)s.s.size()) return false;
  if (pos == (int)s.s.size())
    s.s += (char16_t)c;
  else
    s.s[(size_t)pos] = (char16_t)c;
  return true;
}
int StringSplit(const string &s, ushort separator, MqlArray<string> &result) {
  result.v.clear();
  if (s.s.empty()) return 0;
  size_t pos = 0;
  for (;;) {
    size_t p = s.s.find((char16_t)separator, pos);
    if (p == std::u16string::npos) {
      result.v.push_back(string(s.s.substr(pos)));
      break;
    }
    result.v.push_back(string(s.s.substr(pos, p - pos)));
    pos = p + 1;
  }
  return (int)result.v.size();
}
static bool is_space16(char16_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
#ifdef __MQL5__
int StringTrimLeft(string &s) {
  size_t i = 0;
  while (i < s.s.size() && is_space16(s.s[i])) i++;
  s.s.erase(0, i);
  return (int)i;
}
int StringTrimRight(string &s) {
  size_t n = s.s.size(), i = n;
  while (i > 0 && is_space16(s.s[i - 1])) i--;
  s.s.erase(i);
  return (int)(n - i);
}
#else
string StringTrimLeft(const string &s) {
  size_t i = 0;
  while (i < s.s.size() && is_space16(s.s[i])) i++;
  return string(s.s.substr(i));
}
string StringTrimRight(const string &s) {
  size_t i = s.s.size();
  while (i > 0 && is_space16(s.s[i - 1])) i--;
  return string(s.s.substr(0, i));
}
#endif
bool StringToLower(string &s) {
  for (auto &c : s.s)
    if (c >= 'A' && c <= 'Z') c = (char16_t)(c + 32);
  return true;
}
bool StringToUpper(string &s) {
  for (auto &c : s.s)
    if (c >= 'a' && c <= 'z') c = (char16_t)(c - 32);
  return true;
}
string ShortToString(ushort c) { return string(std::u16string(1, (char16_t)c)); }
string CharToString(uchar c) { return string(std::u16string(1, (char16_t)c)); }
string ShortArrayToString(const MqlArray<ushort> &a, int start, int count) {
  std::u16string out;
  int n = (int)a.v.size();
  int end = count < 0 ? n : std::min(n, start + count);
  for (int i = std::max(0, start); i < end && a.v[(size_t)i] != 0; i++) out += (char16_t)a.v[(size_t)i];
  return string(out);
}
int StringToShortArray(const string &s, MqlArray<ushort> &a, int start, int count) {
  std::vector<ushort> units(s.s.begin(), s.s.end());
  if (count < 0) units.push_back(0);
  else if ((size_t)count < units.size()) units.resize((size_t)count);
  if (a.v.size() < (size_t)start + units.size()) a.v.resize((size_t)start + units.size());
  std::copy(units.begin(), units.end(), a.v.begin() + start);
  return (int)units.size();
}
int StringToCharArray(const string &s, MqlArray<uchar> &a, int start, int count, uint codepage) {
  std::string bytes;
  if (codepage == CP_UTF8) {
    bytes = mql_host::to_utf8(s);
  } else {
    for (char16_t c : s.s) bytes += c < 0x100 ? (char)c : '?';
  }
  if (count < 0) bytes.push_back('\0');  // the terminating NUL MetaTrader appends
  else if ((size_t)count < bytes.size()) bytes.resize((size_t)count);
  if (a.v.size() < (size_t)start + bytes.size()) a.v.resize((size_t)start + bytes.size());
  std::copy(bytes.begin(), bytes.end(), a.v.begin() + start);
  return (int)bytes.size();
}
string CharArrayToString(const MqlArray<uchar> &a, int start, int count, uint codepage) {
  std::string bytes;
  int n = (int)a.v.size();
  int end = count < 0 ? n : std::min(n, start + count);
  for (int i = std::max(0, start); i < end && a.v[(size_t)i] != 0; i++) bytes += (char)a.v[(size_t)i];
  if (codepage == CP_UTF8) return mql_host::from_utf8(bytes);
  std::u16string out;
  for (unsigned char c : bytes) out += (char16_t)c;
  return string(out);
}
double StringToDouble(const string &s) { return std::strtod(mql_host::to_utf8(s).c_str(), nullptr); }
long StringToInteger(const string &s) { return std::strtol(mql_host::to_utf8(s).c_str(), nullptr, 10); }
string DoubleToString(double v, int digits) {
  char buf[512];
  if (digits < 0) {
    std::snprintf(buf, sizeof buf, "%.*e", std::min(16, -digits), v);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", std::min(16, digits), v);
  }
  return string(buf);
}
string IntegerToString(long v, int str_len, ushort fill) {
  std::u16string digits = mql_host::from_utf8(std::to_string(v)).s;
  while ((int)digits.size() < str_len) digits.insert(digits.begin(), (char16_t)fill);
  return string(digits);
}
double NormalizeDouble(double v, int digits) {
  double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

MqlFormatArg mql_format_arg(const string &v) { return MqlFormatArg{3, 0, 0, 0, mql_host::to_utf8(v)}; }
MqlFormatArg mql_format_arg(const char *v) { return MqlFormatArg{3, 0, 0, 0, v ? v : ""}; }
MqlFormatArg mql_format_arg(double v) { return MqlFormatArg{2, 0, 0, v, {}}; }
string mql_format(const string &format, const std::vector<MqlFormatArg> &args) {
  std::string f = mql_host::to_utf8(format), out;
  size_t next = 0;
  for (size_t i = 0; i < f.size(); i++) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '%') {
      out += '%';
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < f.size() && std::strchr("-+ #0123456789.", f[j])) j++;
    std::string spec = f.substr(i, j - i);  // flags, width, precision; length modifiers are dropped:
    while (j < f.size() && std::strchr("hlLqI", f[j])) {  // the arguments carry their own type
      bool ms_width = f[j] == 'I';  // %I64d, %I32d
      j++;
      while (ms_width && j < f.size() && std::isdigit((unsigned char)f[j])) j++;
    }
    if (j >= f.size()) break;
    char conv = f[j];
    char buf[512] = "";
    const MqlFormatArg *a = next < args.size() ? &args[next++] : nullptr;
    if (a) {
      if (conv == 's') {
        std::snprintf(buf, sizeof buf, (spec + "s").c_str(), a->kind == 3 ? a->str.c_str() : "");
      } else if (std::strchr("fFeEgGaA", conv)) {
        double d = a->kind == 2 ? a->d : a->kind == 0 ? (double)a->i : (double)a->u;
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), d);
      } else if (std::strchr("diuoxXc", conv)) {
        long long v = a->kind == 2 ? (long long)a->d : a->kind == 0 ? a->i : (long long)a->u;
        std::snprintf(buf, sizeof buf, (spec + "ll" + conv).c_str(), v);
      }
    }
    out += buf;
    i = j;
  }
  return mql_host::from_utf8(out);
}

// ---------------------------------------------------------------------------------------------------
// Print
void mql_print_line(const std::string &utf8) {
  mql_host::printed.push_back(utf8);
  if (mql_host::print_to_stderr) std::fprintf(stderr, "%s\n", utf8.c_str());
}
std::string mql_print_piece(const string &v) { return mql_host::to_utf8(v); }
std::string mql_print_piece(const char *v) { return v ? v : ""; }
std::string mql_print_piece(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.16g", v);
  return buf;
}
std::string mql_print_piece(bool v) { return v ? "true" : "false"; }

// ---------------------------------------------------------------------------------------------------
// Files
struct HostFile {
  std::FILE *f;
  int flags;
};
static std::map<int, HostFile> g_files;
static int g_next_handle = 1;

// Sandbox path of an MQL file name ("Rubi\\outbox.txt"); empty when it escapes the sandbox.
static std::string sandbox_path(const string &name, int common_flag) {
  std::string n = mql_host::to_utf8(name);
  std::replace(n.begin(), n.end(), '\\', '/');
  if (n.empty() || n[0] == '/' || n.find(':') != std::string::npos) return "";
  for (const auto &part : fs::path(n))
    if (part == "..") return "";
  std::string root = (common_flag & FILE_COMMON) ? (mql_host::common_dir.empty() ? mql_host::files_dir + "/../Common" : mql_host::common_dir)
                                                 : mql_host::files_dir;
  return root + "/" + n;
}

int FileOpen(const string &name, int flags, short, uint) {
  std::string path = sandbox_path(name, flags);
  if (path.empty()) {
    _LastError = 5002;
    return INVALID_HANDLE;
  }
  std::FILE *f = nullptr;
  bool read = flags & FILE_READ, write = flags & FILE_WRITE;
  if (write) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
  }
  if (read && write) {
    f = std::fopen(path.c_str(), "r+b");
    if (!f) f = std::fopen(path.c_str(), "w+b");
  } else if (write) {
    f = std::fopen(path.c_str(), "wb");
  } else if (read) {
    f = std::fopen(path.c_str(), "rb");
  }
  if (!f) {
    _LastError = ERR_CANNOT_OPEN_FILE;
    return INVALID_HANDLE;
  }
  int h = g_next_handle++;
  g_files[h] = HostFile{f, flags};
  return h;
}
static std::FILE *file_of(int handle) {
  auto it = g_files.find(handle);
  if (it == g_files.end()) {
    _LastError = 5008;
    return nullptr;
  }
  return it->second.f;
}
void FileClose(int handle) {
  auto it = g_files.find(handle);
  if (it == g_files.end()) return;
  std::fclose(it->second.f);
  g_files.erase(it);
}
bool FileIsExist(const string &name, int common_flag) {
  std::string p = sandbox_path(name, common_flag);
  return !p.empty() && fs::is_regular_file(p);
}
bool FileDelete(const string &name, int common_flag) {
  std::string p = sandbox_path(name, common_flag);
  std::error_code ec;
  return !p.empty() && fs::remove(p, ec);
}
bool FileMove(const string &src, int common_flag, const string &dst, int mode_flags) {
  std::string from = sandbox_path(src, common_flag), to = sandbox_path(dst, mode_flags);
  if (from.empty() || to.empty() || !fs::is_regular_file(from)) return false;
  if (fs::exists(to) && !(mode_flags & FILE_REWRITE)) return false;
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  return std::rename(from.c_str(), to.c_str()) == 0;
}
ulong FileSize(int handle) {
  std::FILE *f = file_of(handle);
  if (!f) return 0;
  std::fflush(f);
  struct stat st;
  return fstat(fileno(f), &st) == 0 ? (ulong)st.st_size : 0;
}
ulong FileTell(int handle) {
  std::FILE *f = file_of(handle);
  return f ? (ulong)std::ftell(f) : 0;
}
bool FileSeek(int handle, long offset, int origin) {
  std::FILE *f = file_of(handle);
  return f && std::fseek(f, offset, origin == SEEK_END ? SEEK_END : origin == SEEK_CUR ? SEEK_CUR : SEEK_SET) == 0;
}
bool FileIsEnding(int handle) {
  std::FILE *f = file_of(handle);
  if (!f) return true;
  int c = std::fgetc(f);
  if (c == EOF) return true;
  std::ungetc(c, f);
  return false;
}
void FileFlush(int handle) {
  if (std::FILE *f = file_of(handle)) std::fflush(f);
}
uint FileReadArray(int handle, MqlArray<uchar> &a, int start, int count) {
  std::FILE *f = file_of(handle);
  if (!f || start < 0) return 0;
  if (count < 0) count = (int)a.v.size() - start;
  if (count <= 0) return 0;
  if (a.v.size() < (size_t)start + (size_t)count) a.v.resize((size_t)start + (size_t)count);
  return (uint)std::fread(a.v.data() + start, 1, (size_t)count, f);
}
uint FileWriteArray(int handle, const MqlArray<uchar> &a, int start, int count) {
  std::FILE *f = file_of(handle);
  if (!f || start < 0 || start > (int)a.v.size()) return 0;
  if (count < 0 || start + count > (int)a.v.size()) count = (int)a.v.size() - start;
  return (uint)std::fwrite(a.v.data() + start, 1, (size_t)count, f);
}

// ---------------------------------------------------------------------------------------------------
// Crypto
int CryptEncode(ENUM_CRYPT_METHOD method, const MqlArray<uchar> &data, const MqlArray<uchar> &, MqlArray<uchar> &result) {
  if (method == CRYPT_HASH_SHA256) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(data.v.data(), data.v.size(), md, &len, EVP_sha256(), nullptr)) return 0;
    result.v.assign(md, md + len);
    return (int)len;
  }
  if (method == CRYPT_BASE64) {
    std::string out(4 * ((data.v.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock((unsigned char *)out.data(), data.v.data(), (int)data.v.size());
    out.resize((size_t)n);
    if (mql_host::base64_line_length > 0) {  // emulate terminals that wrap long base64 output
      std::string wrapped;
      for (size_t i = 0; i < out.size(); i += (size_t)mql_host::base64_line_length) {
        if (i > 0) wrapped += "\r\n";
        wrapped += out.substr(i, (size_t)mql_host::base64_line_length);
      }
      out = wrapped;
    }
    result.v.assign(out.begin(), out.end());
    return (int)result.v.size();
  }
  _LastError = 4003;
  return 0;
}
int CryptDecode(ENUM_CRYPT_METHOD method, const MqlArray<uchar> &data, const MqlArray<uchar> &, MqlArray<uchar> &result) {
  if (method != CRYPT_BASE64 || data.v.size() % 4 != 0) return 0;
  std::vector<unsigned char> out(data.v.size() / 4 * 3 + 1);
  int n = EVP_DecodeBlock(out.data(), data.v.data(), (int)data.v.size());
  if (n < 0) return 0;
  if (!data.v.empty() && data.v.back() == '=') n--;
  if (data.v.size() > 1 && data.v[data.v.size() - 2] == '=') n--;
  result.v.assign(out.begin(), out.begin() + n);
  return n;
}

// ---------------------------------------------------------------------------------------------------
// WebRequest over libcurl
static size_t curl_body(char *p, size_t size, size_t n, void *ud) {
  auto *v = (std::vector<char> *)ud;
  v->insert(v->end(), p, p + size * n);
  return size * n;
}
static size_t curl_header(char *p, size_t size, size_t n, void *ud) {
  ((std::string *)ud)->append(p, size * n);
  return size * n;
}
int WebRequest(const string &method, const string &url, const string &headers, int timeout, const MqlArray<char> &data,
               MqlArray<char> &result, string &result_headers) {
  std::string u = mql_host::to_utf8(url);
  if (!mql_host::allowed_urls.empty()) {
    bool allowed = false;
    for (const auto &prefix : mql_host::allowed_urls)
      if (u.compare(0, prefix.size(), prefix) == 0) allowed = true;
    if (!allowed) {
#ifdef __MQL5__
      _LastError = 4014;
#else
      _LastError = 4060;
#endif
      return -1;
    }
  }
  if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
    _LastError = ERR_WEBREQUEST_INVALID_ADDRESS;
    return -1;
  }
  static bool initialised = false;
  if (!initialised) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    initialised = true;
  }
  CURL *curl = curl_easy_init();
  if (!curl) {
    _LastError = ERR_WEBREQUEST_REQUEST_FAILED;
    return -1;
  }
  std::string m = mql_host::to_utf8(method);
  std::vector<char> body;
  std::string head;
  struct curl_slist *list = nullptr;
  std::string h = mql_host::to_utf8(headers);
  size_t pos = 0;
  while (pos < h.size()) {
    size_t e = h.find("\r\n", pos);
    if (e == std::string::npos) e = h.size();
    std::string line = h.substr(pos, e - pos);
    if (!line.empty()) list = curl_slist_append(list, line.c_str());
    pos = e + 2;
  }
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, u.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout > 0 ? timeout : 5000));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, curl_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, curl_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &head);
  if (!data.v.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data.v.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)data.v.size());
  } else if (m == "GET" || m == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  }
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    _LastError = rc == CURLE_OPERATION_TIMEDOUT ? ERR_WEBREQUEST_TIMEOUT
                 : (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) ? ERR_WEBREQUEST_CONNECT_FAILED
                                                                                      : ERR_WEBREQUEST_REQUEST_FAILED;
    return -1;
  }
  result.v.assign(body.begin(), body.end());
  result_headers = string(head.c_str());
  return (int)status;
}

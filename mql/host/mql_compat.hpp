// mql_compat.hpp: lets MQL4/MQL5 code (after mql/host/rewrite.mjs) compile as C++17 with g++, so the
// logic in mql/Include/Rubi/*.mqh is type-checked and unit-tested on the host.
//
// What it provides (MQL semantics, only what the Rubi code uses; extend it when you need more):
//   types      string (UTF-16, a value type), datetime, uchar/ushort/uint/ulong, color, MqlArray<T>
//              (what `T a[]` / `T &a[]` become after the rewrite; out-of-range indexing aborts, as the
//              terminal stops an EA with "array out of range")
//   functions  Array*, String*, conversions, Math*, time, GetLastError/ResetLastError, Print,
//              File* over a sandbox folder (the test's "MQL5/Files"), CryptEncode/CryptDecode with real
//              SHA-256 and base64 (OpenSSL), WebRequest over libcurl, Sleep/GetTickCount/MathRand
//   platform   declarations (no definitions) of the MT5 (`__MQL5__`) or MT4 (`__MQL4__`) trade API that
//              the real terminal code in Terminal.mqh calls, so `g++ -fsyntax-only` checks those calls
//              too; a host test build defines RUBI_HOST and gets the simulated terminal instead. The
//              MQL5 standard library's CTrade (<Trade/Trade.mqh>) is declared in stdlib/Trade/Trade.mqh,
//              on the syntax pass's include path only.
//
// Deliberately missing: `string + number` (MQL converts implicitly, with its own formatting; the Rubi
// code converts explicitly, and the deleted operators below make an implicit one a compile error) and
// `(string)x` casts. The definitions of the non-inline functions live in mql_compat.cpp.
#pragma once
#pragma GCC system_header

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#if !defined(__MQL5__) && !defined(__MQL4__)
#error "define __MQL5__ or __MQL4__ (g++ -D__MQL5__)"
#endif

// ---------------------------------------------------------------------------------------------------
// Types
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;
typedef long datetime;
typedef unsigned int color;

class string {
 public:
  std::u16string s;
  string() {}
  string(const char *utf8);  // literals in MQL sources are ASCII; decoded as UTF-8 anyway
  string(const std::u16string &u) : s(u) {}
  string &operator+=(const string &o) {
    s += o.s;
    return *this;
  }
  template <class T, class = typename std::enable_if<std::is_arithmetic<T>::value>::type>
  string &operator+=(T) = delete;  // MQL would convert the number implicitly: convert it explicitly
  friend string operator+(const string &a, const string &b) { return string(a.s + b.s); }
  friend bool operator==(const string &a, const string &b) { return a.s == b.s; }
  friend bool operator!=(const string &a, const string &b) { return a.s != b.s; }
  friend bool operator<(const string &a, const string &b) { return a.s < b.s; }
  friend bool operator>(const string &a, const string &b) { return a.s > b.s; }
  friend bool operator<=(const string &a, const string &b) { return a.s <= b.s; }
  friend bool operator>=(const string &a, const string &b) { return a.s >= b.s; }
};

// `string + number` is a compile error on the host (MQL converts implicitly): convert explicitly.
template <class T>
typename std::enable_if<std::is_arithmetic<T>::value, string>::type operator+(const string &, T) = delete;
template <class T>
typename std::enable_if<std::is_arithmetic<T>::value, string>::type operator+(T, const string &) = delete;

void mql_array_out_of_range(long index, long size);

template <class T>
class MqlArray {
  static_assert(!std::is_same<T, bool>::value, "MqlArray<bool>: use an int or uchar array");

 public:
  std::vector<T> v;
  T &operator[](long i) {
    if (i < 0 || i >= (long)v.size()) mql_array_out_of_range(i, (long)v.size());
    return v[(size_t)i];
  }
  const T &operator[](long i) const {
    if (i < 0 || i >= (long)v.size()) mql_array_out_of_range(i, (long)v.size());
    return v[(size_t)i];
  }
};

// ---------------------------------------------------------------------------------------------------
// Constants
#define WHOLE_ARRAY (-1)
#define EMPTY (-1)
#define INVALID_HANDLE (-1)
#define CP_ACP 0
#define CP_UTF8 65001
#define clrNONE ((color)0xFFFFFFFF)
#define TIME_DATE 1
#define TIME_MINUTES 2
#define TIME_SECONDS 4
#define FILE_READ 1
#define FILE_WRITE 2
#define FILE_BIN 4
#define FILE_CSV 8
#define FILE_TXT 16
#define FILE_ANSI 32
#define FILE_UNICODE 64
#define FILE_SHARE_READ 128
#define FILE_SHARE_WRITE 256
#define FILE_REWRITE 512
#define FILE_COMMON 4096
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
#define ERR_SUCCESS 0
#define ERR_CANNOT_OPEN_FILE 5004
#define ERR_WEBREQUEST_INVALID_ADDRESS 5200
#define ERR_WEBREQUEST_CONNECT_FAILED 5201
#define ERR_WEBREQUEST_TIMEOUT 5202
#define ERR_WEBREQUEST_REQUEST_FAILED 5203
#ifdef __MQL5__
#define ERR_FUNCTION_NOT_ALLOWED 4014  // MT5: WebRequest to a URL not in the allow-list
#else
#define ERR_FUNCTION_NOT_CONFIRMED 4060  // MT4: the same condition
#endif
#define INIT_SUCCEEDED 0
#define INIT_FAILED 1
#define INIT_PARAMETERS_INCORRECT 32767

enum ENUM_CRYPT_METHOD { CRYPT_BASE64, CRYPT_AES128, CRYPT_AES256, CRYPT_DES, CRYPT_HASH_SHA1, CRYPT_HASH_SHA256, CRYPT_HASH_MD5, CRYPT_ARCH_ZIP };

struct MqlDateTime {
  int year, mon, day, hour, min, sec, day_of_week, day_of_year;
};

// ---------------------------------------------------------------------------------------------------
// Errors, time, system
inline int _LastError = 0;
inline int GetLastError() { return _LastError; }
inline void ResetLastError() { _LastError = 0; }
inline void SetUserError(ushort code) { _LastError = 65536 + code; }
datetime TimeCurrent();
datetime TimeGMT();
datetime TimeLocal();
uint GetTickCount();
ulong GetMicrosecondCount();
void Sleep(int ms);
bool IsStopped();
bool TimeToStruct(datetime t, MqlDateTime &dt);
datetime StructToTime(MqlDateTime &dt);
string TimeToString(datetime t, int mode = TIME_DATE | TIME_MINUTES);
void MathSrand(uint seed);
int MathRand();

// ---------------------------------------------------------------------------------------------------
// Arrays
template <class T>
int ArraySize(const MqlArray<T> &a) { return (int)a.v.size(); }
template <class T, size_t N>
int ArraySize(const T (&)[N]) { return (int)N; }
template <class T>
int ArrayResize(MqlArray<T> &a, int n, int reserve = 0) {
  if (n < 0) return -1;
  if (reserve > 0) a.v.reserve((size_t)n + (size_t)reserve);
  a.v.resize((size_t)n);
  return n;
}
template <class T>
void ArrayFree(MqlArray<T> &a) { std::vector<T>().swap(a.v); }
template <class T>
int ArrayCopy(MqlArray<T> &dst, const MqlArray<T> &src, int dst_start = 0, int src_start = 0, int count = WHOLE_ARRAY) {
  int size = (int)src.v.size();
  if (src_start < 0 || dst_start < 0 || src_start > size) return 0;
  int n = (count < 0 || src_start + count > size) ? size - src_start : count;
  if ((int)dst.v.size() < dst_start + n) dst.v.resize((size_t)(dst_start + n));
  for (int i = 0; i < n; i++) dst.v[(size_t)(dst_start + i)] = src.v[(size_t)(src_start + i)];
  return n;
}
template <class T, class V>
void ArrayInitialize(MqlArray<T> &a, V value) {
  for (auto &x : a.v) x = (T)value;
}

// ---------------------------------------------------------------------------------------------------
// Strings and conversions
int StringLen(const string &s);
string StringSubstr(const string &s, int start, int length = -1);
int StringFind(const string &s, const string &match, int start = 0);
int StringReplace(string &s, const string &find, const string &replacement);
ushort StringGetCharacter(const string &s, int pos);
bool StringSetCharacter(string &s, int pos, ushort c);
int StringSplit(const string &s, ushort separator, MqlArray<string> &result);
#ifdef __MQL5__
int StringTrimLeft(string &s);
int StringTrimRight(string &s);
#else
string StringTrimLeft(const string &s);
string StringTrimRight(const string &s);
#endif
bool StringToLower(string &s);
bool StringToUpper(string &s);
string ShortToString(ushort c);
string CharToString(uchar c);
string ShortArrayToString(const MqlArray<ushort> &a, int start = 0, int count = -1);
int StringToShortArray(const string &s, MqlArray<ushort> &a, int start = 0, int count = -1);
int StringToCharArray(const string &s, MqlArray<uchar> &a, int start = 0, int count = -1, uint codepage = CP_ACP);
string CharArrayToString(const MqlArray<uchar> &a, int start = 0, int count = -1, uint codepage = CP_ACP);
double StringToDouble(const string &s);
long StringToInteger(const string &s);
string DoubleToString(double v, int digits = 8);
string IntegerToString(long v, int str_len = 0, ushort fill = ' ');
double NormalizeDouble(double v, int digits);

// StringFormat/PrintFormat: printf conversions; %s takes a string, numbers take numbers.
struct MqlFormatArg {
  int kind;  // 0 signed, 1 unsigned, 2 double, 3 string
  long long i;
  unsigned long long u;
  double d;
  std::string str;
};
MqlFormatArg mql_format_arg(const string &v);
MqlFormatArg mql_format_arg(const char *v);
MqlFormatArg mql_format_arg(double v);
template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
MqlFormatArg mql_format_arg(T v) {
  MqlFormatArg a{std::is_signed<T>::value ? 0 : 1, (long long)v, (unsigned long long)v, 0, {}};
  return a;
}
string mql_format(const string &format, const std::vector<MqlFormatArg> &args);
template <class... A>
string StringFormat(const string &format, const A &...args) {
  return mql_format(format, std::vector<MqlFormatArg>{mql_format_arg(args)...});
}

// ---------------------------------------------------------------------------------------------------
// Math
template <class T>
T MathAbs(T v) { return v < 0 ? -v : v; }
inline int MathMax(int a, int b) { return a > b ? a : b; }
inline long MathMax(long a, long b) { return a > b ? a : b; }
inline double MathMax(double a, double b) { return a > b ? a : b; }
inline int MathMin(int a, int b) { return a < b ? a : b; }
inline long MathMin(long a, long b) { return a < b ? a : b; }
inline double MathMin(double a, double b) { return a < b ? a : b; }
inline double MathPow(double b, double e) { return std::pow(b, e); }
inline double MathFloor(double v) { return std::floor(v); }
inline double MathCeil(double v) { return std::ceil(v); }
inline double MathRound(double v) { return std::round(v); }
inline double MathSqrt(double v) { return std::sqrt(v); }
inline double MathLog(double v) { return std::log(v); }
inline double MathExp(double v) { return std::exp(v); }
inline double MathMod(double a, double b) { return std::fmod(a, b); }
inline bool MathIsValidNumber(double v) { return std::isfinite(v); }

// ---------------------------------------------------------------------------------------------------
// Print (captured: see mql_host::printed)
void mql_print_line(const std::string &utf8);
std::string mql_print_piece(const string &v);
std::string mql_print_piece(const char *v);
std::string mql_print_piece(double v);
std::string mql_print_piece(bool v);
template <class T, class = typename std::enable_if<std::is_integral<T>::value>::type>
std::string mql_print_piece(T v) { return std::to_string(v); }
template <class... A>
void Print(const A &...args) {
  std::string line;
  (void)std::initializer_list<int>{(line += mql_print_piece(args), 0)...};
  mql_print_line(line);
}
template <class... A>
void PrintFormat(const string &format, const A &...args) { Print(StringFormat(format, args...)); }

// ---------------------------------------------------------------------------------------------------
// Files (sandbox: mql_host::files_dir, FILE_COMMON: mql_host::common_dir). Binary access only.
int FileOpen(const string &name, int flags, short delimiter = '\t', uint codepage = CP_ACP);
void FileClose(int handle);
bool FileIsExist(const string &name, int common_flag = 0);
bool FileDelete(const string &name, int common_flag = 0);
bool FileMove(const string &src, int common_flag, const string &dst, int mode_flags);
ulong FileSize(int handle);
ulong FileTell(int handle);
bool FileSeek(int handle, long offset, int origin);
bool FileIsEnding(int handle);
void FileFlush(int handle);
uint FileReadArray(int handle, MqlArray<uchar> &a, int start = 0, int count = WHOLE_ARRAY);
uint FileWriteArray(int handle, const MqlArray<uchar> &a, int start = 0, int count = WHOLE_ARRAY);

// ---------------------------------------------------------------------------------------------------
// Crypto and WebRequest
int CryptEncode(ENUM_CRYPT_METHOD method, const MqlArray<uchar> &data, const MqlArray<uchar> &key, MqlArray<uchar> &result);
int CryptDecode(ENUM_CRYPT_METHOD method, const MqlArray<uchar> &data, const MqlArray<uchar> &key, MqlArray<uchar> &result);
int WebRequest(const string &method, const string &url, const string &headers, int timeout, const MqlArray<char> &data,
               MqlArray<char> &result, string &result_headers);

// ---------------------------------------------------------------------------------------------------
// Host controls for test programs (not MQL).
namespace mql_host {
extern std::string files_dir;                  // "MQL5/Files" of the test; default $MQL_FILES_DIR or ./Files
extern std::string common_dir;                 // FILE_COMMON folder; default <files_dir>/../Common
extern std::vector<std::string> printed;       // every Print line, UTF-8
extern bool print_to_stderr;                   // also echo Print lines to stderr
extern std::vector<std::string> allowed_urls;  // WebRequest allow-list (prefixes); empty: everything allowed
extern int base64_line_length;                 // CryptEncode(CRYPT_BASE64): insert CRLF every N chars (0: none)
extern bool stopped;                           // IsStopped()
std::string to_utf8(const string &s);          // lone surrogates become U+FFFD, as MetaTrader's CP_UTF8
string from_utf8(const std::string &utf8);
string from_utf16_hex(const std::string &hex);  // 4 hex digits per UTF-16 unit (test input)
std::string utf16_hex(const string &s);
}  // namespace mql_host

// ---------------------------------------------------------------------------------------------------
// Platform API declarations, for the syntax pass over the real terminal code (no definitions).
enum ENUM_SYMBOL_INFO_INTEGER {
  SYMBOL_SELECT, SYMBOL_DIGITS, SYMBOL_SPREAD, SYMBOL_TRADE_STOPS_LEVEL, SYMBOL_TRADE_FREEZE_LEVEL, SYMBOL_TRADE_MODE,
  SYMBOL_TRADE_EXEMODE, SYMBOL_FILLING_MODE, SYMBOL_EXPIRATION_MODE, SYMBOL_ORDER_MODE
};
enum ENUM_SYMBOL_INFO_DOUBLE {
  SYMBOL_BID, SYMBOL_ASK, SYMBOL_POINT, SYMBOL_TRADE_TICK_VALUE, SYMBOL_TRADE_TICK_SIZE, SYMBOL_TRADE_CONTRACT_SIZE,
  SYMBOL_VOLUME_MIN, SYMBOL_VOLUME_MAX, SYMBOL_VOLUME_STEP, SYMBOL_VOLUME_LIMIT
};
enum ENUM_SYMBOL_INFO_STRING { SYMBOL_CURRENCY_BASE, SYMBOL_CURRENCY_PROFIT, SYMBOL_CURRENCY_MARGIN, SYMBOL_DESCRIPTION, SYMBOL_PATH };
enum ENUM_SYMBOL_TRADE_MODE { SYMBOL_TRADE_MODE_DISABLED, SYMBOL_TRADE_MODE_LONGONLY, SYMBOL_TRADE_MODE_SHORTONLY, SYMBOL_TRADE_MODE_CLOSEONLY, SYMBOL_TRADE_MODE_FULL };
enum ENUM_ACCOUNT_INFO_INTEGER {
  ACCOUNT_LOGIN, ACCOUNT_TRADE_MODE, ACCOUNT_LEVERAGE, ACCOUNT_LIMIT_ORDERS, ACCOUNT_MARGIN_SO_MODE, ACCOUNT_TRADE_ALLOWED, ACCOUNT_TRADE_EXPERT
#ifdef __MQL5__
  , ACCOUNT_MARGIN_MODE  // MT5 only: netting, exchange or hedging (ENUM_ACCOUNT_MARGIN_MODE)
#endif
};
enum ENUM_ACCOUNT_INFO_DOUBLE { ACCOUNT_BALANCE, ACCOUNT_CREDIT, ACCOUNT_PROFIT, ACCOUNT_EQUITY, ACCOUNT_MARGIN, ACCOUNT_MARGIN_FREE, ACCOUNT_MARGIN_LEVEL };
enum ENUM_ACCOUNT_INFO_STRING { ACCOUNT_NAME, ACCOUNT_SERVER, ACCOUNT_CURRENCY, ACCOUNT_COMPANY };
enum ENUM_TERMINAL_INFO_INTEGER { TERMINAL_BUILD, TERMINAL_CONNECTED, TERMINAL_TRADE_ALLOWED, TERMINAL_DLLS_ALLOWED };
enum ENUM_TERMINAL_INFO_STRING { TERMINAL_LANGUAGE, TERMINAL_COMPANY, TERMINAL_NAME, TERMINAL_PATH, TERMINAL_DATA_PATH, TERMINAL_COMMONDATA_PATH };
enum ENUM_MQL_INFO_INTEGER { MQL_PROGRAM_TYPE, MQL_DLLS_ALLOWED, MQL_TRADE_ALLOWED, MQL_TESTER, MQL_OPTIMIZATION };
enum ENUM_MQL_INFO_STRING { MQL_PROGRAM_NAME, MQL_PROGRAM_PATH };
enum ENUM_TIMEFRAMES { PERIOD_CURRENT = 0, PERIOD_M1 = 1, PERIOD_H1 = 16385, PERIOD_D1 = 16408 };
double SymbolInfoDouble(const string &symbol, ENUM_SYMBOL_INFO_DOUBLE prop);
long SymbolInfoInteger(const string &symbol, ENUM_SYMBOL_INFO_INTEGER prop);
string SymbolInfoString(const string &symbol, ENUM_SYMBOL_INFO_STRING prop);
bool SymbolSelect(const string &symbol, bool select);
long AccountInfoInteger(ENUM_ACCOUNT_INFO_INTEGER prop);
double AccountInfoDouble(ENUM_ACCOUNT_INFO_DOUBLE prop);
string AccountInfoString(ENUM_ACCOUNT_INFO_STRING prop);
int TerminalInfoInteger(ENUM_TERMINAL_INFO_INTEGER prop);
string TerminalInfoString(ENUM_TERMINAL_INFO_STRING prop);
int MQLInfoInteger(ENUM_MQL_INFO_INTEGER prop);
string MQLInfoString(ENUM_MQL_INFO_STRING prop);
bool EventSetTimer(int seconds);
bool EventSetMillisecondTimer(int milliseconds);
void EventKillTimer();
string Symbol();
void Comment(const string &text);
void Alert(const string &text);
extern string _Symbol;

#ifdef __MQL5__
enum ENUM_ORDER_TYPE { ORDER_TYPE_BUY, ORDER_TYPE_SELL, ORDER_TYPE_BUY_LIMIT, ORDER_TYPE_SELL_LIMIT, ORDER_TYPE_BUY_STOP, ORDER_TYPE_SELL_STOP, ORDER_TYPE_BUY_STOP_LIMIT, ORDER_TYPE_SELL_STOP_LIMIT, ORDER_TYPE_CLOSE_BY };
enum ENUM_TRADE_REQUEST_ACTIONS { TRADE_ACTION_DEAL = 1, TRADE_ACTION_PENDING = 5, TRADE_ACTION_SLTP = 6, TRADE_ACTION_MODIFY = 7, TRADE_ACTION_REMOVE = 8, TRADE_ACTION_CLOSE_BY = 10 };
enum ENUM_ORDER_TYPE_FILLING { ORDER_FILLING_FOK, ORDER_FILLING_IOC, ORDER_FILLING_RETURN };
enum ENUM_ACCOUNT_MARGIN_MODE { ACCOUNT_MARGIN_MODE_RETAIL_NETTING, ACCOUNT_MARGIN_MODE_EXCHANGE, ACCOUNT_MARGIN_MODE_RETAIL_HEDGING };
enum ENUM_ORDER_TYPE_TIME { ORDER_TIME_GTC, ORDER_TIME_DAY, ORDER_TIME_SPECIFIED, ORDER_TIME_SPECIFIED_DAY };
enum ENUM_POSITION_TYPE { POSITION_TYPE_BUY, POSITION_TYPE_SELL };
enum ENUM_POSITION_PROPERTY_INTEGER { POSITION_TICKET, POSITION_TIME, POSITION_TIME_MSC, POSITION_TYPE, POSITION_MAGIC, POSITION_IDENTIFIER };
enum ENUM_POSITION_PROPERTY_DOUBLE { POSITION_VOLUME, POSITION_PRICE_OPEN, POSITION_SL, POSITION_TP, POSITION_PRICE_CURRENT, POSITION_SWAP, POSITION_PROFIT };
enum ENUM_POSITION_PROPERTY_STRING { POSITION_SYMBOL, POSITION_COMMENT };
enum ENUM_DEAL_TYPE { DEAL_TYPE_BUY, DEAL_TYPE_SELL, DEAL_TYPE_BALANCE, DEAL_TYPE_CREDIT, DEAL_TYPE_CHARGE, DEAL_TYPE_CORRECTION, DEAL_TYPE_BONUS, DEAL_TYPE_COMMISSION };
enum ENUM_DEAL_ENTRY { DEAL_ENTRY_IN, DEAL_ENTRY_OUT, DEAL_ENTRY_INOUT, DEAL_ENTRY_OUT_BY };
enum ENUM_DEAL_PROPERTY_INTEGER { DEAL_TICKET, DEAL_ORDER, DEAL_TIME, DEAL_TIME_MSC, DEAL_TYPE, DEAL_ENTRY, DEAL_MAGIC, DEAL_POSITION_ID, DEAL_REASON };
enum ENUM_DEAL_REASON { DEAL_REASON_CLIENT, DEAL_REASON_MOBILE, DEAL_REASON_WEB, DEAL_REASON_EXPERT, DEAL_REASON_SL, DEAL_REASON_TP, DEAL_REASON_SO, DEAL_REASON_ROLLOVER, DEAL_REASON_VMARGIN, DEAL_REASON_SPLIT };
enum ENUM_DEAL_PROPERTY_DOUBLE { DEAL_VOLUME, DEAL_PRICE, DEAL_COMMISSION, DEAL_SWAP, DEAL_PROFIT, DEAL_FEE };
enum ENUM_DEAL_PROPERTY_STRING { DEAL_SYMBOL, DEAL_COMMENT };
#define SYMBOL_FILLING_FOK 1
#define SYMBOL_FILLING_IOC 2
#define TRADE_RETCODE_PLACED 10008
#define TRADE_RETCODE_DONE 10009
#define TRADE_RETCODE_DONE_PARTIAL 10010
struct MqlTradeRequest {
  ENUM_TRADE_REQUEST_ACTIONS action; ulong magic; ulong order; string symbol; double volume; double price; double stoplimit;
  double sl; double tp; ulong deviation; ENUM_ORDER_TYPE type; ENUM_ORDER_TYPE_FILLING type_filling;
  ENUM_ORDER_TYPE_TIME type_time; datetime expiration; string comment; ulong position; ulong position_by;
};
struct MqlTradeResult {
  uint retcode; ulong deal; ulong order; double volume; double price; double bid; double ask; string comment; uint request_id; int retcode_external;
};
struct MqlTradeTransaction {
  ulong deal; ulong order; string symbol; int type; int order_type; int order_state; int deal_type; int time_type;
  datetime time_expiration; double price; double price_trigger; double price_sl; double price_tp; double volume; ulong position; ulong position_by;
};
struct MqlTick { datetime time; double bid; double ask; double last; ulong volume; long time_msc; uint flags; double volume_real; };
template <class T>
void ZeroMemory(T &x) { x = T(); }
bool OrderSend(MqlTradeRequest &request, MqlTradeResult &result);
datetime TimeTradeServer();
bool SymbolInfoTick(const string &symbol, MqlTick &tick);
int PositionsTotal();
ulong PositionGetTicket(int index);
bool PositionSelectByTicket(ulong ticket);
long PositionGetInteger(ENUM_POSITION_PROPERTY_INTEGER prop);
double PositionGetDouble(ENUM_POSITION_PROPERTY_DOUBLE prop);
string PositionGetString(ENUM_POSITION_PROPERTY_STRING prop);
bool HistorySelect(datetime from, datetime to);
bool HistorySelectByPosition(long position_id);
bool HistoryDealSelect(ulong ticket);
int HistoryDealsTotal();
ulong HistoryDealGetTicket(int index);
long HistoryDealGetInteger(ulong ticket, ENUM_DEAL_PROPERTY_INTEGER prop);
double HistoryDealGetDouble(ulong ticket, ENUM_DEAL_PROPERTY_DOUBLE prop);
string HistoryDealGetString(ulong ticket, ENUM_DEAL_PROPERTY_STRING prop);
enum ENUM_ORDER_PROPERTY_STRING { ORDER_SYMBOL, ORDER_COMMENT, ORDER_EXTERNAL_ID };
int OrdersTotal();
ulong OrderGetTicket(int index);
string OrderGetString(ENUM_ORDER_PROPERTY_STRING prop);
int HistoryOrdersTotal();
ulong HistoryOrderGetTicket(int index);
string HistoryOrderGetString(ulong ticket, ENUM_ORDER_PROPERTY_STRING prop);
#endif

#ifdef __MQL4__
#define OP_BUY 0
#define OP_SELL 1
#define OP_BUYLIMIT 2
#define OP_SELLLIMIT 3
#define OP_BUYSTOP 4
#define OP_SELLSTOP 5
#define SELECT_BY_POS 0
#define SELECT_BY_TICKET 1
#define MODE_TRADES 0
#define MODE_HISTORY 1
#define MODE_BID 9
#define MODE_ASK 10
#define MODE_STOPLEVEL 14
int OrderSend(const string &symbol, int cmd, double volume, double price, int slippage, double stoploss, double takeprofit,
              const string &comment = "", int magic = 0, datetime expiration = 0, color arrow_color = clrNONE);
bool OrderClose(int ticket, double lots, double price, int slippage, color arrow_color = clrNONE);
bool OrderModify(int ticket, double price, double stoploss, double takeprofit, datetime expiration, color arrow_color = clrNONE);
bool OrderSelect(int index, int select, int pool = MODE_TRADES);
int OrdersTotal();
int OrdersHistoryTotal();
int OrderTicket();
int OrderType();
string OrderSymbol();
double OrderLots();
double OrderOpenPrice();
double OrderClosePrice();
datetime OrderOpenTime();
datetime OrderCloseTime();
double OrderStopLoss();
double OrderTakeProfit();
double OrderCommission();
double OrderSwap();
double OrderProfit();
int OrderMagicNumber();
string OrderComment();
bool RefreshRates();
double MarketInfo(const string &symbol, int type);
bool IsTradeAllowed();
bool IsConnected();
int AccountNumber();
string AccountServer();
string AccountCompany();
string AccountCurrency();
int AccountLeverage();
double AccountBalance();
double AccountEquity();
double AccountMargin();
double AccountFreeMargin();
double AccountProfit();
#endif

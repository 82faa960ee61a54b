//+------------------------------------------------------------------+
//| Rubi/Text.mqh: text helpers shared by every Rubi include (MQL4 and MQL5).                        |
//|   - UTF-8 encode/decode written out in MQL (byte-exact on every build, no code page involved):   |
//|     lone surrogates encode as U+FFFD (as TextEncoder does); invalid input decodes to U+FFFD      |
//|   - decoding of text files as MetaTrader and the VPS agent write them (UTF-16LE, UTF-8, ANSI)    |
//|   - numbers in the invariant culture: shortest round-trip form, or a fixed number of digits      |
//|   - ISO-8601 UTC time, HTTP-date (Date header), hex, ASCII trim/lower-case, FNV-1a checksums    |
//| Pure logic: no terminal calls.                                                                   |
//+------------------------------------------------------------------+
#ifndef RUBI_TEXT_MQH
#define RUBI_TEXT_MQH

#define RUBI_HEX_DIGITS "0123456789abcdef"

bool RubiIsSpace(const ushort c)
  {
   return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  }

// The string without leading and trailing spaces, tabs, CR and LF.
string RubiTrim(const string s)
  {
   int n = StringLen(s);
   int a = 0;
   while(a < n && RubiIsSpace(StringGetCharacter(s, a)))
      a++;
   int b = n;
   while(b > a && RubiIsSpace(StringGetCharacter(s, b - 1)))
      b--;
   if(a == 0 && b == n)
      return s;
   if(b <= a)
      return "";
   return StringSubstr(s, a, b - a);
  }

// ASCII lower case (A-Z only: keys and header names, never user text).
string RubiLowerAscii(const string s)
  {
   int n = StringLen(s);
   ushort units[];
   if(n == 0)
      return "";
   ArrayResize(units, n);
   for(int i = 0; i < n; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c >= 'A' && c <= 'Z')
         c = (ushort)(c + 32);
      units[i] = c;
     }
   return ShortArrayToString(units, 0, n);
  }

bool RubiStartsWith(const string s, const string prefix)
  {
   int n = StringLen(prefix);
   return StringLen(s) >= n && (n == 0 || StringSubstr(s, 0, n) == prefix);
  }

bool RubiEndsWith(const string s, const string suffix)
  {
   int n = StringLen(suffix);
   int len = StringLen(s);
   return len >= n && (n == 0 || StringSubstr(s, len - n, n) == suffix);
  }

// Lower-case hex of bytes[start .. start+count).
string RubiHexBytes(const uchar &bytes[], const int start, const int count)
  {
   string digits = RUBI_HEX_DIGITS;
   ushort units[];
   if(count <= 0)
      return "";
   ArrayResize(units, count * 2);
   for(int i = 0; i < count; i++)
     {
      uchar b = bytes[start + i];
      units[2 * i] = StringGetCharacter(digits, b >> 4);
      units[2 * i + 1] = StringGetCharacter(digits, b & 15);
     }
   return ShortArrayToString(units, 0, count * 2);
  }

// `value` as exactly `width` lower-case hex digits (the low 4*width bits).
string RubiHex(const ulong value, const int width)
  {
   string digits = RUBI_HEX_DIGITS;
   ushort units[];
   ArrayResize(units, width);
   ulong v = value;
   for(int i = width - 1; i >= 0; i--)
     {
      units[i] = StringGetCharacter(digits, (int)(v & 15));
      v = v >> 4;
     }
   return ShortArrayToString(units, 0, width);
  }

//--- UTF-8 ---------------------------------------------------------------------------------------

// UTF-8 bytes of `s` in `out` (sized exactly, no terminating NUL); returns the byte count.
// A lone surrogate becomes EF BF BD (U+FFFD), as TextEncoder and MetaTrader's CP_UTF8 do.
int RubiUtf8Encode(const string s, uchar &out[])
  {
   int n = StringLen(s);
   ArrayResize(out, n * 3);
   int k = 0;
   for(int i = 0; i < n; i++)
     {
      uint c = StringGetCharacter(s, i);
      if(c >= 0xD800 && c <= 0xDBFF && i + 1 < n)
        {
         uint d = StringGetCharacter(s, i + 1);
         if(d >= 0xDC00 && d <= 0xDFFF)
           {
            c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
            i++;
           }
        }
      if(c >= 0xD800 && c <= 0xDFFF)
         c = 0xFFFD;
      if(c < 0x80)
         out[k++] = (uchar)c;
      else
         if(c < 0x800)
           {
            out[k++] = (uchar)(0xC0 | (c >> 6));
            out[k++] = (uchar)(0x80 | (c & 0x3F));
           }
         else
            if(c < 0x10000)
              {
               out[k++] = (uchar)(0xE0 | (c >> 12));
               out[k++] = (uchar)(0x80 | ((c >> 6) & 0x3F));
               out[k++] = (uchar)(0x80 | (c & 0x3F));
              }
            else
              {
               out[k++] = (uchar)(0xF0 | (c >> 18));
               out[k++] = (uchar)(0x80 | ((c >> 12) & 0x3F));
               out[k++] = (uchar)(0x80 | ((c >> 6) & 0x3F));
               out[k++] = (uchar)(0x80 | (c & 0x3F));
              }
     }
   ArrayResize(out, k);
   return k;
  }

// Decodes bytes[start .. start+count) as UTF-8 into `out`. Returns true when the input was valid
// UTF-8 without NUL bytes; otherwise each invalid sequence (and each NUL) is decoded as U+FFFD, so
// `out` is still usable (MQL strings cannot hold NUL).
bool RubiUtf8Decode(const uchar &bytes[], const int start, const int count, string &out)
  {
   ushort units[];
   int end = start + count;
   if(count <= 0)
     {
      out = "";
      return true;
     }
   ArrayResize(units, count);
   int k = 0;
   bool valid = true;
   int i = start;
   while(i < end)
     {
      uint c = bytes[i];
      if(c < 0x80)
        {
         if(c == 0)
           {
            valid = false;
            c = 0xFFFD;
           }
         units[k++] = (ushort)c;
         i++;
         continue;
        }
      int need = 0;
      uint lo = 0x80;
      uint hi = 0xBF;
      uint cp = 0;
      if(c >= 0xC2 && c <= 0xDF)
        {
         need = 1;
         cp = c & 0x1F;
        }
      else
         if(c >= 0xE0 && c <= 0xEF)
           {
            need = 2;
            cp = c & 0x0F;
            if(c == 0xE0)
               lo = 0xA0;
            if(c == 0xED)
               hi = 0x9F;
           }
         else
            if(c >= 0xF0 && c <= 0xF4)
              {
               need = 3;
               cp = c & 0x07;
               if(c == 0xF0)
                  lo = 0x90;
               if(c == 0xF4)
                  hi = 0x8F;
              }
      if(need == 0)
        {
         valid = false;
         units[k++] = 0xFFFD;
         i++;
         continue;
        }
      int j = 1;
      bool ok = true;
      while(j <= need)
        {
         if(i + j >= end)
           {
            ok = false;
            break;
           }
         uint d = bytes[i + j];
         if(d < lo || d > hi)
           {
            ok = false;
            break;
           }
         lo = 0x80;
         hi = 0xBF;
         cp = (cp << 6) | (d & 0x3F);
         j++;
        }
      if(!ok)
        {
         valid = false;
         units[k++] = 0xFFFD;
         i += j;
         continue;
        }
      i += need + 1;
      if(cp >= 0x10000)
        {
         cp -= 0x10000;
         units[k++] = (ushort)(0xD800 + (cp >> 10));
         units[k++] = (ushort)(0xDC00 + (cp & 0x3FF));
        }
      else
         units[k++] = (ushort)cp;
     }
   out = k > 0 ? ShortArrayToString(units, 0, k) : "";
   return valid;
  }

// Text as MetaTrader and the VPS agent write files (vps-agent/src/ini.ts decodeText): UTF-16LE with
// a byte order mark, UTF-8 with or without one, UTF-16LE without a BOM (every other byte zero),
// else Latin-1. `count` bytes from the start of `bytes`.
string RubiDecodeText(const uchar &bytes[], const int count)
  {
   string out = "";
   bool utf16 = false;
   int from = 0;
   if(count >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE)
     {
      utf16 = true;
      from = 2;
     }
   else
      if(count >= 4 && bytes[1] == 0 && bytes[3] == 0 && bytes[0] != 0)
         utf16 = true;
   if(utf16)
     {
      int units_count = (count - from) / 2;
      ushort units[];
      if(units_count <= 0)
         return "";
      ArrayResize(units, units_count);
      int k = 0;
      for(int i = 0; i < units_count; i++)
        {
         ushort u = (ushort)(bytes[from + 2 * i] | (bytes[from + 2 * i + 1] << 8));
         if(u != 0)
            units[k++] = u;
        }
      return k > 0 ? ShortArrayToString(units, 0, k) : "";
     }
   if(count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF)
      from = 3;
   if(RubiUtf8Decode(bytes, from, count - from, out))
      return out;
   ushort latin[];
   ArrayResize(latin, count);
   int m = 0;
   for(int i = 0; i < count; i++)
      if(bytes[i] != 0)
         latin[m++] = bytes[i];
   return m > 0 ? ShortArrayToString(latin, 0, m) : "";
  }

//--- Numbers -------------------------------------------------------------------------------------

// Guards against a terminal formatting with a decimal comma (MQL does not, but it costs nothing).
string RubiInvariant(const string s)
  {
   string t = s;
   StringReplace(t, ",", ".");
   return t;
  }

// Drops trailing zeros after a decimal point ("1.2500" -> "1.25", "3.000" -> "3"); "-0" -> "0".
string RubiTrimZeros(const string s)
  {
   if(StringFind(s, ".") < 0 || StringFind(s, "e") >= 0 || StringFind(s, "E") >= 0)
      return s == "-0" ? "0" : s;
   int n = StringLen(s);
   while(n > 0 && StringGetCharacter(s, n - 1) == '0')
      n--;
   if(n > 0 && StringGetCharacter(s, n - 1) == '.')
      n--;
   string t = StringSubstr(s, 0, n);
   return t == "-0" ? "0" : t;
  }

// The shortest decimal text that reads back as exactly `v`, in JavaScript's notation ranges
// (String(v)): fixed notation from 1e-6 up to 1e21 (integers without a point), scientific
// notation outside ("1.5e-07": equal value, MetaTrader's exponent form). Not finite: "null" (as
// JSON.stringify writes it).
string RubiNumber(const double v)
  {
   if(!MathIsValidNumber(v))
      return "null";
   if(v == 0)
      return "0";
   double a = MathAbs(v);
   if(a >= 1e-6 && a < 1e21)
     {
      if(MathFloor(v) == v)
         return a < 1e15 ? IntegerToString((long)v) : RubiInvariant(DoubleToString(v, 0));
      for(int p = 1; p <= 16; p++)
        {
         string s = RubiInvariant(DoubleToString(v, p));
         if(StringToDouble(s) == v)
            return RubiTrimZeros(s);
        }
     }
   for(int k = 1; k <= 16; k++)
     {
      string e = RubiInvariant(DoubleToString(v, -k));
      if(StringToDouble(e) == v)
         return e;
     }
   return RubiInvariant(DoubleToString(v, -16));
  }

// `v` rounded to `digits` decimals (0..8), trailing zeros dropped: prices with the symbol's digits.
string RubiNumberDigits(const double v, const int digits)
  {
   if(!MathIsValidNumber(v))
      return "null";
   int d = digits < 0 ? 0 : (digits > 16 ? 16 : digits);
   return RubiTrimZeros(RubiInvariant(DoubleToString(v, d)));
  }

//--- Time ----------------------------------------------------------------------------------------

// ISO-8601 UTC ("2025-11-21T10:15:00Z") of a datetime that holds UTC (TimeGMT, or a server time
// already shifted by the server's offset). Plain arithmetic (days from civil), no terminal calls.
string RubiIsoTime(const datetime t)
  {
   long secs = (long)t;
   long days = secs / 86400;
   long rem = secs % 86400;
   if(rem < 0)
     {
      rem += 86400;
      days--;
     }
   long z = days + 719468;
   long era = (z >= 0 ? z : z - 146096) / 146097;
   long doe = z - era * 146097;
   long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
   long y = yoe + era * 400;
   long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
   long mp = (5 * doy + 2) / 153;
   long d = doy - (153 * mp + 2) / 5 + 1;
   long m = mp < 10 ? mp + 3 : mp - 9;
   if(m <= 2)
      y++;
   return IntegerToString(y, 4, '0') + "-" + IntegerToString(m, 2, '0') + "-" + IntegerToString(d, 2, '0') + "T" +
          IntegerToString(rem / 3600, 2, '0') + ":" + IntegerToString((rem / 60) % 60, 2, '0') + ":" +
          IntegerToString(rem % 60, 2, '0') + "Z";
  }

// Days since 1970-01-01 of a proleptic Gregorian date (days from civil; the inverse of RubiIsoTime's).
long RubiDaysFromCivil(const long year, const long month, const long day)
  {
   long y = month <= 2 ? year - 1 : year;
   long era = (y >= 0 ? y : y - 399) / 400;
   long yoe = y - era * 400;
   long mp = month > 2 ? month - 3 : month + 9;
   long doy = (153 * mp + 2) / 5 + day - 1;
   long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
   return era * 146097 + doe - 719468;
  }

// The digits s[start .. start+count) as a number; -1 when any is not a digit (or out of range).
long RubiDigitsAt(const string s, const int start, const int count)
  {
   if(start < 0 || start + count > StringLen(s))
      return -1;
   long v = 0;
   for(int i = start; i < start + count; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c < '0' || c > '9')
         return -1;
      v = v * 10 + (c - '0');
     }
   return v;
  }

// Parses an ISO-8601 date-time with a zone, as the backend writes it ("2025-11-21T10:15:00.123Z",
// "2025-11-21T12:15:00+02:00", "...+0200"; 't'/'z' or a space as separator accepted), into `t`
// holding UTC; a fraction of a second is dropped. False (t untouched) for anything else: no zone,
// a field out of range (Feb 30, 24:00), a year before 1970.
bool RubiIsoParse(const string text, datetime &t)
  {
   string s = RubiTrim(text);
   int len = StringLen(s);
   if(len < 20)
      return false;
   long year = RubiDigitsAt(s, 0, 4);
   long month = RubiDigitsAt(s, 5, 2);
   long day = RubiDigitsAt(s, 8, 2);
   long hour = RubiDigitsAt(s, 11, 2);
   long minute = RubiDigitsAt(s, 14, 2);
   long second = RubiDigitsAt(s, 17, 2);
   ushort sep = StringGetCharacter(s, 10);
   if(StringGetCharacter(s, 4) != '-' || StringGetCharacter(s, 7) != '-' || (sep != 'T' && sep != 't' && sep != ' ') ||
      StringGetCharacter(s, 13) != ':' || StringGetCharacter(s, 16) != ':')
      return false;
   if(year < 1970 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59)
      return false;
   bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
   long month_days = month == 2 ? (leap ? 29 : 28) : ((month == 4 || month == 6 || month == 9 || month == 11) ? 30 : 31);
   if(day > month_days)
      return false;
   int i = 19;
   if(StringGetCharacter(s, i) == '.')
     {
      i++;
      int digits_start = i;
      while(i < len && StringGetCharacter(s, i) >= '0' && StringGetCharacter(s, i) <= '9')
         i++;
      if(i == digits_start)
         return false;
     }
   if(i >= len)
      return false;
   long offset = 0;
   ushort z = StringGetCharacter(s, i);
   if(z == 'Z' || z == 'z')
     {
      if(i + 1 != len)
         return false;
     }
   else
      if(z == '+' || z == '-')
        {
         long oh = RubiDigitsAt(s, i + 1, 2);
         long om = -1;
         if(i + 6 == len && StringGetCharacter(s, i + 3) == ':')
            om = RubiDigitsAt(s, i + 4, 2);
         else
            if(i + 5 == len)
               om = RubiDigitsAt(s, i + 3, 2);
         if(oh < 0 || oh > 23 || om < 0 || om > 59)
            return false;
         offset = (oh * 3600 + om * 60) * (z == '-' ? -1 : 1);
        }
      else
         return false;
   long secs = RubiDaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
   if(secs < 0)
      return false;
   t = (datetime)secs;
   return true;
  }

// Parses an HTTP-date in the IMF-fixdate form servers send in the `Date` header (RFC 9110:
// "Sun, 06 Nov 1994 08:49:37 GMT") into `t` (UTC). False (t untouched) for anything else.
bool RubiHttpDateParse(const string text, datetime &t)
  {
   string s = RubiTrim(text);
   if(StringLen(s) != 29 || StringGetCharacter(s, 3) != ',' || StringGetCharacter(s, 4) != ' ' || StringGetCharacter(s, 7) != ' ' ||
      StringGetCharacter(s, 11) != ' ' || StringGetCharacter(s, 16) != ' ' || StringGetCharacter(s, 19) != ':' ||
      StringGetCharacter(s, 22) != ':' || StringSubstr(s, 25) != " GMT")
      return false;
   int month = StringFind("JanFebMarAprMayJunJulAugSepOctNovDec", StringSubstr(s, 8, 3));
   if(month < 0 || month % 3 != 0)
      return false;
   month = month / 3 + 1;
   long day = RubiDigitsAt(s, 5, 2);
   long year = RubiDigitsAt(s, 12, 4);
   long hour = RubiDigitsAt(s, 17, 2);
   long minute = RubiDigitsAt(s, 20, 2);
   long second = RubiDigitsAt(s, 23, 2);
   if(year < 1970 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60)
      return false;
   bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
   long month_days = month == 2 ? (leap ? 29 : 28) : ((month == 4 || month == 6 || month == 9 || month == 11) ? 30 : 31);
   if(day > month_days)
      return false;
   if(second == 60)
      second = 59;  // a leap second: one second early is close enough for a clock offset
   t = (datetime)(RubiDaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second);
   return true;
  }

//--- Checksums -----------------------------------------------------------------------------------

// 32-bit FNV-1a of bytes[start .. start+count): detects torn or corrupted lines, not tampering.
uint RubiFnv1a(const uchar &bytes[], const int start, const int count)
  {
   uint h = 2166136261;
   for(int i = start; i < start + count; i++)
     {
      h = h ^ bytes[i];
      h = h * 16777619;
     }
   return h;
  }

#endif

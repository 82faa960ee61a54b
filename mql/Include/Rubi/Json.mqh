//+------------------------------------------------------------------+
//| Rubi/Json.mqh: JSON for the EAs (MQL4 and MQL5). Pure logic.                                     |
//|                                                                                                  |
//| RubiJsonWriter builds one document: objects, arrays, strings (escaped: quotes, backslashes,      |
//| control characters, and every non-ASCII unit as \uXXXX, so the text is pure ASCII and its UTF-8  |
//| bytes are the same on every terminal), numbers in the invariant culture (shortest round-trip or  |
//| a fixed number of digits; NaN/Inf as null, like JSON.stringify), booleans and null.              |
//|                                                                                                  |
//| RubiJson parses a response (RFC 8259, strict: what JSON.parse accepts, except a \u0000 escape,   |
//| which MQL strings cannot hold) into a flat node table: no pointers, nodes are int indexes.       |
//|   RubiJson j; if(!j.Parse(text)) Print(j.Error());                                               |
//|   int root = j.Root(); string id = j.GetStr(root, "session_id", "");                              |
//|   int arr = j.Key(root, "accepted"); for(int n = j.First(arr); n >= 0; n = j.Next(n)) ...        |
//| Duplicate keys: the last one wins (as in JSON.parse). Bounded: 64 nested containers, node count,  |
//| text length.                                                                                     |
//+------------------------------------------------------------------+
#ifndef RUBI_JSON_MQH
#define RUBI_JSON_MQH

#include <Rubi/Text.mqh>

#define RUBI_JSON_NONE   -1
#define RUBI_JSON_NULL    0
#define RUBI_JSON_BOOL    1
#define RUBI_JSON_NUMBER  2
#define RUBI_JSON_STRING  3
#define RUBI_JSON_ARRAY   4
#define RUBI_JSON_OBJECT  5

#define RUBI_JSON_MAX_DEPTH   64
#define RUBI_JSON_MAX_NODES   200000
#define RUBI_JSON_MAX_LENGTH  8388608

// A JSON string literal (with the quotes) for `s`.
string RubiJsonQuote(const string s)
  {
   string digits = RUBI_HEX_DIGITS;
   string out = "\"";
   int n = StringLen(s);
   int run = 0;
   for(int i = 0; i < n; i++)
     {
      ushort c = StringGetCharacter(s, i);
      if(c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
         continue;
      if(i > run)
         out += StringSubstr(s, run, i - run);
      run = i + 1;
      if(c == '"')
         out += "\\\"";
      else
         if(c == '\\')
            out += "\\\\";
         else
            if(c == '\n')
               out += "\\n";
            else
               if(c == '\r')
                  out += "\\r";
               else
                  if(c == '\t')
                     out += "\\t";
                  else
                     if(c == 8)
                        out += "\\b";
                     else
                        if(c == 12)
                           out += "\\f";
                        else
                           out += "\\u" + StringSubstr(digits, (c >> 12) & 15, 1) + StringSubstr(digits, (c >> 8) & 15, 1) +
                                  StringSubstr(digits, (c >> 4) & 15, 1) + StringSubstr(digits, c & 15, 1);
     }
   if(n > run)
      out += (run == 0 ? s : StringSubstr(s, run, n - run));
   return out + "\"";
  }

//+------------------------------------------------------------------+
//| Writer                                                           |
//+------------------------------------------------------------------+
class RubiJsonWriter
  {
private:
   string            m_out;
   int               m_kind[];     // per open container: RUBI_JSON_ARRAY or RUBI_JSON_OBJECT
   int               m_items[];    // values written in it so far
   int               m_depth;
   bool              m_key_pending;
   bool              m_done;
   bool              m_failed;

   // Before a value: a comma when needed; checks that a value may go here.
   bool              BeforeValue()
     {
      if(m_failed)
         return false;
      if(m_depth == 0)
        {
         if(m_done)
            m_failed = true;
         return !m_failed;
        }
      if(m_kind[m_depth - 1] == RUBI_JSON_OBJECT)
        {
         if(!m_key_pending)
            m_failed = true;
         m_key_pending = false;
         return !m_failed;
        }
      if(m_items[m_depth - 1] > 0)
         m_out += ",";
      m_items[m_depth - 1]++;
      return true;
     }
   void              AfterValue()
     {
      if(m_depth == 0)
         m_done = true;
     }
   void              Open(const int kind, const string bracket)
     {
      if(!BeforeValue())
         return;
      m_out += bracket;
      if(ArraySize(m_kind) <= m_depth)
        {
         ArrayResize(m_kind, m_depth + 8);
         ArrayResize(m_items, m_depth + 8);
        }
      m_kind[m_depth] = kind;
      m_items[m_depth] = 0;
      m_depth++;
     }
   void              Close(const int kind, const string bracket)
     {
      if(m_failed || m_depth == 0 || m_kind[m_depth - 1] != kind || m_key_pending)
        {
         m_failed = true;
         return;
        }
      m_depth--;
      m_out += bracket;
      AfterValue();
     }
   void              Scalar(const string text)
     {
      if(!BeforeValue())
         return;
      m_out += text;
      AfterValue();
     }

public:
                     RubiJsonWriter() { Reset(); }
   void              Reset()
     {
      m_out = "";
      m_depth = 0;
      m_key_pending = false;
      m_done = false;
      m_failed = false;
     }
   void              BeginObject() { Open(RUBI_JSON_OBJECT, "{"); }
   void              EndObject() { Close(RUBI_JSON_OBJECT, "}"); }
   void              BeginArray() { Open(RUBI_JSON_ARRAY, "["); }
   void              EndArray() { Close(RUBI_JSON_ARRAY, "]"); }
   void              Key(const string name)
     {
      if(m_failed || m_depth == 0 || m_kind[m_depth - 1] != RUBI_JSON_OBJECT || m_key_pending)
        {
         m_failed = true;
         return;
        }
      if(m_items[m_depth - 1] > 0)
         m_out += ",";
      m_items[m_depth - 1]++;
      m_out += RubiJsonQuote(name) + ":";
      m_key_pending = true;
     }
   void              Str(const string value) { Scalar(RubiJsonQuote(value)); }
   void              Num(const double value) { Scalar(RubiNumber(value)); }
   void              NumDigits(const double value, const int digits) { Scalar(RubiNumberDigits(value, digits)); }
   void              Int(const long value) { Scalar(IntegerToString(value)); }
   void              Bool(const bool value) { Scalar(value ? "true" : "false"); }
   void              Null() { Scalar("null"); }
   // Already serialised JSON (e.g. a document kept in the outbox). Not validated.
   void              Raw(const string json) { Scalar(json); }
   void              KeyStr(const string name, const string value) { Key(name); Str(value); }
   void              KeyNum(const string name, const double value) { Key(name); Num(value); }
   void              KeyNumDigits(const string name, const double value, const int digits) { Key(name); NumDigits(value, digits); }
   void              KeyInt(const string name, const long value) { Key(name); Int(value); }
   void              KeyBool(const string name, const bool value) { Key(name); Bool(value); }
   void              KeyNull(const string name) { Key(name); Null(); }
   void              KeyRaw(const string name, const string json) { Key(name); Raw(json); }
   // True when exactly one complete value was written and no call was out of place.
   bool              Ok() const { return !m_failed && m_done && m_depth == 0; }
   string            Text() const { return m_out; }
  };

//+------------------------------------------------------------------+
//| Parser                                                           |
//+------------------------------------------------------------------+
struct RubiJsonNode
  {
   int               type;
   int               parent;
   int               first;
   int               last;
   int               next;
   int               count;
   bool              integral;  // a number written without fraction or exponent
   double            number;    // numbers; booleans as 1/0
   string            text;      // strings; numbers as written
   string            key;       // member name when the parent is an object
  };

class RubiJson
  {
private:
   RubiJsonNode      m_nodes[];
   int               m_count;
   string            m_src;
   int               m_len;
   int               m_pos;
   string            m_error;

   bool              Fail(const string message)
     {
      if(m_error == "")
         m_error = message + " at offset " + IntegerToString(m_pos);
      return false;
     }
   void              SkipSpace()
     {
      while(m_pos < m_len)
        {
         ushort c = StringGetCharacter(m_src, m_pos);
         if(c != ' ' && c != '\t' && c != '\r' && c != '\n')
            break;
         m_pos++;
        }
     }
   int               NewNode(const int type, const int parent, const string key)
     {
      if(m_count >= RUBI_JSON_MAX_NODES)
        {
         Fail("too many values");
         return -1;
        }
      if(ArraySize(m_nodes) <= m_count)
         ArrayResize(m_nodes, m_count + 64 + m_count / 2);
      int n = m_count++;
      m_nodes[n].type = type;
      m_nodes[n].parent = parent;
      m_nodes[n].first = -1;
      m_nodes[n].last = -1;
      m_nodes[n].next = -1;
      m_nodes[n].count = 0;
      m_nodes[n].integral = false;
      m_nodes[n].number = 0;
      m_nodes[n].text = "";
      m_nodes[n].key = key;
      if(parent >= 0)
        {
         if(m_nodes[parent].last >= 0)
            m_nodes[m_nodes[parent].last].next = n;
         else
            m_nodes[parent].first = n;
         m_nodes[parent].last = n;
         m_nodes[parent].count++;
        }
      return n;
     }
   int               HexDigit(const ushort c)
     {
      if(c >= '0' && c <= '9')
         return c - '0';
      if(c >= 'a' && c <= 'f')
         return c - 'a' + 10;
      if(c >= 'A' && c <= 'F')
         return c - 'A' + 10;
      return -1;
     }
   // A string literal starting at m_pos (the opening quote) into `out`.
   bool              ParseString(string &out)
     {
      m_pos++;
      out = "";
      int run = m_pos;
      while(true)
        {
         if(m_pos >= m_len)
            return Fail("unterminated string");
         ushort c = StringGetCharacter(m_src, m_pos);
         if(c == '"')
           {
            if(m_pos > run)
               out += StringSubstr(m_src, run, m_pos - run);
            m_pos++;
            return true;
           }
         if(c < 0x20)
            return Fail("control character in string");
         if(c != '\\')
           {
            m_pos++;
            continue;
           }
         if(m_pos > run)
            out += StringSubstr(m_src, run, m_pos - run);
         if(m_pos + 1 >= m_len)
            return Fail("unterminated escape");
         ushort e = StringGetCharacter(m_src, m_pos + 1);
         m_pos += 2;
         if(e == '"')
            out += "\"";
         else
            if(e == '\\')
               out += "\\";
            else
               if(e == '/')
                  out += "/";
               else
                  if(e == 'b')
                     out += ShortToString(8);
                  else
                     if(e == 'f')
                        out += ShortToString(12);
                     else
                        if(e == 'n')
                           out += "\n";
                        else
                           if(e == 'r')
                              out += "\r";
                           else
                              if(e == 't')
                                 out += "\t";
                              else
                                 if(e == 'u')
                                   {
                                    if(m_pos + 4 > m_len)
                                       return Fail("short \\u escape");
                                    int v = 0;
                                    for(int i = 0; i < 4; i++)
                                      {
                                       int h = HexDigit(StringGetCharacter(m_src, m_pos + i));
                                       if(h < 0)
                                          return Fail("bad \\u escape");
                                       v = v * 16 + h;
                                      }
                                    if(v == 0)
                                       return Fail("\\u0000 is not supported");
                                    out += ShortToString((ushort)v);
                                    m_pos += 4;
                                   }
                                 else
                                    return Fail("bad escape");
         run = m_pos;
        }
      return false;
     }
   bool              IsDigit(const int pos)
     {
      if(pos >= m_len)
         return false;
      ushort c = StringGetCharacter(m_src, pos);
      return c >= '0' && c <= '9';
     }
   bool              ParseNumber(const int node)
     {
      int start = m_pos;
      bool integral = true;
      if(StringGetCharacter(m_src, m_pos) == '-')
         m_pos++;
      if(!IsDigit(m_pos))
         return Fail("bad number");
      if(StringGetCharacter(m_src, m_pos) == '0')
         m_pos++;
      else
         while(IsDigit(m_pos))
            m_pos++;
      if(m_pos < m_len && StringGetCharacter(m_src, m_pos) == '.')
        {
         integral = false;
         m_pos++;
         if(!IsDigit(m_pos))
            return Fail("bad fraction");
         while(IsDigit(m_pos))
            m_pos++;
        }
      if(m_pos < m_len && (StringGetCharacter(m_src, m_pos) == 'e' || StringGetCharacter(m_src, m_pos) == 'E'))
        {
         integral = false;
         m_pos++;
         if(m_pos < m_len && (StringGetCharacter(m_src, m_pos) == '+' || StringGetCharacter(m_src, m_pos) == '-'))
            m_pos++;
         if(!IsDigit(m_pos))
            return Fail("bad exponent");
         while(IsDigit(m_pos))
            m_pos++;
        }
      string token = StringSubstr(m_src, start, m_pos - start);
      m_nodes[node].text = token;
      m_nodes[node].integral = integral;
      m_nodes[node].number = StringToDouble(token);
      return true;
     }
   bool              Literal(const string word)
     {
      int n = StringLen(word);
      if(m_pos + n > m_len || StringSubstr(m_src, m_pos, n) != word)
         return Fail("unexpected character");
      m_pos += n;
      return true;
     }
   bool              ParseValue(const int parent, const string key, const int depth)
     {
      SkipSpace();
      if(m_pos >= m_len)
         return Fail("unexpected end");
      ushort c = StringGetCharacter(m_src, m_pos);
      if((c == '{' || c == '[') && depth >= RUBI_JSON_MAX_DEPTH)
         return Fail("nested too deeply");
      if(c == '{')
        {
         int obj = NewNode(RUBI_JSON_OBJECT, parent, key);
         if(obj < 0)
            return false;
         m_pos++;
         SkipSpace();
         if(m_pos < m_len && StringGetCharacter(m_src, m_pos) == '}')
           {
            m_pos++;
            return true;
           }
         while(true)
           {
            SkipSpace();
            if(m_pos >= m_len || StringGetCharacter(m_src, m_pos) != '"')
               return Fail("expected a member name");
            string name;
            if(!ParseString(name))
               return false;
            SkipSpace();
            if(m_pos >= m_len || StringGetCharacter(m_src, m_pos) != ':')
               return Fail("expected ':'");
            m_pos++;
            if(!ParseValue(obj, name, depth + 1))
               return false;
            SkipSpace();
            if(m_pos >= m_len)
               return Fail("unterminated object");
            ushort d = StringGetCharacter(m_src, m_pos);
            m_pos++;
            if(d == '}')
               return true;
            if(d != ',')
               return Fail("expected ',' or '}'");
           }
        }
      if(c == '[')
        {
         int arr = NewNode(RUBI_JSON_ARRAY, parent, key);
         if(arr < 0)
            return false;
         m_pos++;
         SkipSpace();
         if(m_pos < m_len && StringGetCharacter(m_src, m_pos) == ']')
           {
            m_pos++;
            return true;
           }
         while(true)
           {
            if(!ParseValue(arr, "", depth + 1))
               return false;
            SkipSpace();
            if(m_pos >= m_len)
               return Fail("unterminated array");
            ushort d = StringGetCharacter(m_src, m_pos);
            m_pos++;
            if(d == ']')
               return true;
            if(d != ',')
               return Fail("expected ',' or ']'");
           }
        }
      if(c == '"')
        {
         int s = NewNode(RUBI_JSON_STRING, parent, key);
         if(s < 0)
            return false;
         string value;
         if(!ParseString(value))
            return false;
         m_nodes[s].text = value;
         return true;
        }
      if(c == '-' || (c >= '0' && c <= '9'))
        {
         int num = NewNode(RUBI_JSON_NUMBER, parent, key);
         return num >= 0 && ParseNumber(num);
        }
      if(c == 't' || c == 'f')
        {
         int b = NewNode(RUBI_JSON_BOOL, parent, key);
         if(b < 0)
            return false;
         m_nodes[b].number = (c == 't' ? 1 : 0);
         return Literal(c == 't' ? "true" : "false");
        }
      if(c == 'n')
        {
         if(NewNode(RUBI_JSON_NULL, parent, key) < 0)
            return false;
         return Literal("null");
        }
      return Fail("unexpected character");
     }

public:
                     RubiJson() { Clear(); }
   void              Clear()
     {
      ArrayFree(m_nodes);
      m_count = 0;
      m_src = "";
      m_len = 0;
      m_pos = 0;
      m_error = "";
     }
   // Parses `text` (one value, surrounding whitespace allowed). False: Error() says why and where.
   bool              Parse(const string text)
     {
      Clear();
      m_src = text;
      m_len = StringLen(text);
      if(m_len > RUBI_JSON_MAX_LENGTH)
         return Fail("document too long");
      bool ok = ParseValue(-1, "", 0);
      if(ok)
        {
         SkipSpace();
         if(m_pos != m_len)
            ok = Fail("unexpected text after the value");
        }
      m_src = "";
      if(!ok)
         m_count = 0;
      return ok;
     }
   string            Error() const { return m_error; }
   int               Root() const { return m_count > 0 ? 0 : -1; }
   int               Type(const int node) const { return node >= 0 && node < m_count ? m_nodes[node].type : RUBI_JSON_NONE; }
   int               Count(const int node) const { return Type(node) >= RUBI_JSON_ARRAY ? m_nodes[node].count : 0; }
   int               First(const int node) const { return Type(node) >= RUBI_JSON_ARRAY ? m_nodes[node].first : -1; }
   int               Next(const int node) const { return node >= 0 && node < m_count ? m_nodes[node].next : -1; }
   string            Name(const int node) const { return node >= 0 && node < m_count ? m_nodes[node].key : ""; }
   // The member `name` of an object (the last one when repeated), or -1.
   int               Key(const int obj, const string name) const
     {
      if(Type(obj) != RUBI_JSON_OBJECT)
         return -1;
      int found = -1;
      for(int n = m_nodes[obj].first; n >= 0; n = m_nodes[n].next)
         if(m_nodes[n].key == name)
            found = n;
      return found;
     }
   // Element `index` of an array, or -1 (walks the list: iterate with First/Next instead).
   int               Item(const int arr, const int index) const
     {
      if(Type(arr) != RUBI_JSON_ARRAY || index < 0)
         return -1;
      int n = m_nodes[arr].first;
      for(int i = 0; i < index && n >= 0; i++)
         n = m_nodes[n].next;
      return n;
     }
   bool              IsNull(const int node) const { return Type(node) == RUBI_JSON_NULL; }
   string            Str(const int node) const { return Type(node) == RUBI_JSON_STRING ? m_nodes[node].text : ""; }
   double            Num(const int node) const { return Type(node) == RUBI_JSON_NUMBER ? m_nodes[node].number : 0; }
   // Integers exactly as written (beyond 2^53 too); other numbers truncated.
   long              Long(const int node) const
     {
      if(Type(node) != RUBI_JSON_NUMBER)
         return 0;
      if(m_nodes[node].integral && StringLen(m_nodes[node].text) <= 18)
         return StringToInteger(m_nodes[node].text);
      return (long)m_nodes[node].number;
     }
   bool              Bool(const int node) const { return Type(node) == RUBI_JSON_BOOL && m_nodes[node].number != 0; }
   // A number as written in the document (e.g. to copy it unchanged).
   string            NumberText(const int node) const { return Type(node) == RUBI_JSON_NUMBER ? m_nodes[node].text : ""; }
   string            GetStr(const int obj, const string name, const string fallback) const
     {
      int n = Key(obj, name);
      return Type(n) == RUBI_JSON_STRING ? m_nodes[n].text : fallback;
     }
   double            GetNum(const int obj, const string name, const double fallback) const
     {
      int n = Key(obj, name);
      return Type(n) == RUBI_JSON_NUMBER ? m_nodes[n].number : fallback;
     }
   long              GetLong(const int obj, const string name, const long fallback) const
     {
      int n = Key(obj, name);
      return Type(n) == RUBI_JSON_NUMBER ? Long(n) : fallback;
     }
   bool              GetBool(const int obj, const string name, const bool fallback) const
     {
      int n = Key(obj, name);
      return Type(n) == RUBI_JSON_BOOL ? m_nodes[n].number != 0 : fallback;
     }
   // Writes the value at `node` (and everything under it) with `w`: re-serialises a subtree.
   void              WriteTo(const int node, RubiJsonWriter &w) const
     {
      int t = Type(node);
      if(t == RUBI_JSON_OBJECT)
        {
         w.BeginObject();
         for(int n = m_nodes[node].first; n >= 0; n = m_nodes[n].next)
           {
            w.Key(m_nodes[n].key);
            WriteTo(n, w);
           }
         w.EndObject();
        }
      else
         if(t == RUBI_JSON_ARRAY)
           {
            w.BeginArray();
            for(int n = m_nodes[node].first; n >= 0; n = m_nodes[n].next)
               WriteTo(n, w);
            w.EndArray();
           }
         else
            if(t == RUBI_JSON_STRING)
               w.Str(m_nodes[node].text);
            else
               if(t == RUBI_JSON_NUMBER)
                  w.Raw(m_nodes[node].text);
               else
                  if(t == RUBI_JSON_BOOL)
                     w.Bool(m_nodes[node].number != 0);
                  else
                     if(t == RUBI_JSON_NULL)
                        w.Null();
     }
  };

#endif

//+------------------------------------------------------------------+
//| Rubi/Outbox.mqh: a durable on-disk outbox in the terminal's Files folder (MQL4 and MQL5).       |
//|                                                                                                  |
//| Items are JSON documents, each under a unique key (a ticket, a signal id). An item stays until  |
//| acknowledged, across terminal restarts:                                                          |
//|   RubiOutbox box; box.Open("Rubi\\trades.outbox", 10000);                                        |
//|   box.Append("123456", json);            // durable when it returns 1                            |
//|   for(int i = 0; i < box.Count(); i++) send(box.KeyAt(i), box.DocAt(i));                         |
//|   box.AckMany(keys);                     // one rewrite for a whole batch                        |
//|                                                                                                  |
//| File format: UTF-8 lines "<fnv1a-32 hex>\t<key>\t<json>\n", the checksum over "<key>\t<json>". |
//| Append adds one line; an ack rewrites the file (temp file, then moved over: Rubi/Files.mqh).     |
//| Opening drops a torn last line (no newline: a crash mid-append), lines whose checksum or UTF-8  |
//| is wrong, and then rewrites the file clean; Dropped() says how many. A leftover "<file>.tmp"     |
//| is an unfinished rewrite and is deleted, unless the file itself is missing (then it is the     |
//| complete new state and is moved into place). Bounded: at most max_items items, each key at most |
//| RUBI_OUTBOX_MAX_KEY characters (no tab or line break), each document at most                     |
//| RUBI_OUTBOX_MAX_DOC characters on one line.                                                      |
//+------------------------------------------------------------------+
#ifndef RUBI_OUTBOX_MQH
#define RUBI_OUTBOX_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Files.mqh>

#define RUBI_OUTBOX_MAX_KEY 128
#define RUBI_OUTBOX_MAX_DOC 65536

class RubiOutbox
  {
private:
   string            m_file;
   string            m_keys[];
   string            m_docs[];
   int               m_count;
   int               m_max_items;
   int               m_dropped;
   string            m_error;

   // The bytes of one line for an item, appended to `out` at `at`; returns the new length.
   int               LineBytes(const string key, const string doc, uchar &out[], const int at) const
     {
      uchar payload[];
      int n = RubiUtf8Encode(key + "\t" + doc, payload);
      uchar head[];
      RubiUtf8Encode(RubiHex(RubiFnv1a(payload, 0, n), 8) + "\t", head);
      ArrayResize(out, at + 9 + n + 1, 4096);
      ArrayCopy(out, head, at, 0, 9);
      if(n > 0)
         ArrayCopy(out, payload, at + 9, 0, n);
      out[at + 9 + n] = '\n';
      return at + 9 + n + 1;
     }
   // Parses one complete line (bytes[start .. start+len), without the newline).
   bool              ParseLine(const uchar &bytes[], const int start, const int len, string &key, string &doc) const
     {
      int n = len;
      if(n > 0 && bytes[start + n - 1] == '\r')
         n--;
      if(n < 11 || bytes[start + 8] != '\t')
         return false;
      string stored;
      if(!RubiUtf8Decode(bytes, start, 8, stored))
         return false;
      if(stored != RubiHex(RubiFnv1a(bytes, start + 9, n - 9), 8))
         return false;
      string payload;
      if(!RubiUtf8Decode(bytes, start + 9, n - 9, payload))
         return false;
      int tab = StringFind(payload, "\t");
      if(tab <= 0)
         return false;
      key = StringSubstr(payload, 0, tab);
      doc = StringSubstr(payload, tab + 1);
      return doc != "";
     }
   bool              ValidItem(const string key, const string doc)
     {
      if(key == "" || StringLen(key) > RUBI_OUTBOX_MAX_KEY || StringFind(key, "\t") >= 0 || StringFind(key, "\n") >= 0 || StringFind(key, "\r") >= 0)
        {
         m_error = "invalid outbox key";
         return false;
        }
      if(doc == "" || StringLen(doc) > RUBI_OUTBOX_MAX_DOC || StringFind(doc, "\n") >= 0 || StringFind(doc, "\r") >= 0)
        {
         m_error = "invalid outbox document for key " + key;
         return false;
        }
      return true;
     }
   void              Push(const string key, const string doc)
     {
      ArrayResize(m_keys, m_count + 1, 64);
      ArrayResize(m_docs, m_count + 1, 64);
      m_keys[m_count] = key;
      m_docs[m_count] = doc;
      m_count++;
     }

public:
                     RubiOutbox() { m_count = 0; m_max_items = 10000; m_dropped = 0; m_file = ""; m_error = ""; }
   int               Count() const { return m_count; }
   string            KeyAt(const int i) const { return i >= 0 && i < m_count ? m_keys[i] : ""; }
   string            DocAt(const int i) const { return i >= 0 && i < m_count ? m_docs[i] : ""; }
   int               Dropped() const { return m_dropped; }
   string            Error() const { return m_error; }
   int               IndexOf(const string key) const
     {
      for(int i = 0; i < m_count; i++)
         if(m_keys[i] == key)
            return i;
      return -1;
     }
   bool              Has(const string key) const { return IndexOf(key) >= 0; }

   // Loads Files/<file_name> (missing: an empty outbox). False only when a repair could not be written.
   bool              Open(const string file_name, const int max_items)
     {
      m_file = file_name;
      m_max_items = max_items > 0 ? max_items : 10000;
      m_count = 0;
      m_dropped = 0;
      m_error = "";
      ArrayFree(m_keys);
      ArrayFree(m_docs);
      string tmp = file_name + ".tmp";
      if(FileIsExist(tmp))
        {
         if(FileIsExist(file_name))
            FileDelete(tmp);
         else
            FileMove(tmp, 0, file_name, FILE_REWRITE);
        }
      uchar bytes[];
      if(!RubiFileRead(file_name, bytes))
         return true;
      int size = ArraySize(bytes);
      int start = 0;
      for(int i = 0; i < size; i++)
        {
         if(bytes[i] != '\n')
            continue;
         string key;
         string doc;
         if(ParseLine(bytes, start, i - start, key, doc) && !Has(key) && m_count < m_max_items)
            Push(key, doc);
         else
            m_dropped++;
         start = i + 1;
        }
      if(start < size)
         m_dropped++;  // torn last line
      if(m_dropped > 0 && !Save())
         return false;
      return true;
     }

   // Rewrites the whole file from memory (temp file, then moved over).
   bool              Save()
     {
      uchar out[];
      int len = 0;
      for(int i = 0; i < m_count; i++)
         len = LineBytes(m_keys[i], m_docs[i], out, len);
      if(!RubiFileWriteAtomic(m_file, out, len))
        {
         m_error = "cannot write " + m_file;
         return false;
        }
      return true;
     }

   // 1: added (on disk); 0: the key is already pending; -1: refused (full, invalid, I/O): see Error().
   int               Append(const string key, const string doc)
     {
      if(!ValidItem(key, doc))
         return -1;
      if(Has(key))
         return 0;
      if(m_count >= m_max_items)
        {
         m_error = "outbox full (" + IntegerToString(m_max_items) + " items)";
         return -1;
        }
      uchar line[];
      int n = LineBytes(key, doc, line, 0);
      if(!RubiFileAppend(m_file, line, n))
        {
         m_error = "cannot append to " + m_file;
         return -1;
        }
      Push(key, doc);
      return 1;
     }

   // Removes the items with these keys and rewrites the file once; returns how many were removed
   // (-1 when the rewrite failed: the items are then back on the next Open).
   int               AckMany(const string &keys[])
     {
      int removed = 0;
      int n = ArraySize(keys);
      int w = 0;
      for(int i = 0; i < m_count; i++)
        {
         bool acked = false;
         for(int k = 0; k < n && !acked; k++)
            acked = m_keys[i] == keys[k];
         if(acked)
           {
            removed++;
            continue;
           }
         if(w != i)
           {
            m_keys[w] = m_keys[i];
            m_docs[w] = m_docs[i];
           }
         w++;
        }
      if(removed == 0)
         return 0;
      m_count = w;
      ArrayResize(m_keys, w);
      ArrayResize(m_docs, w);
      return Save() ? removed : -1;
     }

   bool              Ack(const string key)
     {
      string keys[];
      ArrayResize(keys, 1);
      keys[0] = key;
      return AckMany(keys) == 1;
     }
  };

#endif

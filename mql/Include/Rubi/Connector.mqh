//+------------------------------------------------------------------+
//| Rubi/Connector.mqh: the signals bridge (RubiStudioConnector.mq5), all of its logic.             |
//|                                                                                                  |
//| The protocol of packages/ea-sim/src/connector-ea.ts, request for request:                        |
//|   Start()    POST /connect (account, balance, the specs of the configured symbols), recover the  |
//|              journal (below), resend kept reports, POST /positions/update (full list)           |
//|   Tick()     POST /ping with balance/equity/margin (404/409: the session is gone, reconnect);   |
//|              when pending_signals > 0 or a report is owed: GET /signals/pending, execute each    |
//|              signal once, POST /signals/{id}/status; POST /positions/update when the list of    |
//|              open positions changed                                                              |
//|   Disconnect(reason)  POST /connect/disconnect with the counters                                 |
//|                                                                                                  |
//| Exactly once across crashes. Every order carries magic = the EA's magic number and the comment   |
//| tag "rubi:<first 20 hex digits of the signal id>" (RubiConnectorTag). The journal              |
//| (Files/Rubi/connector-<magic>.journal, RubiConnectorJournal) keeps one record per signal id:    |
//|   sending   written and flushed BEFORE the order is sent                                         |
//|   sent      the outcome (the status report to send), written right after the order returned    |
//|   reported  the backend acknowledged the report                                                  |
//| A signal in the journal is never executed again. After a restart a "sending" record is settled  |
//| from the terminal: an IN deal (history) or an open position with our magic and the tag means    |
//| the order went through (EXECUTED with that order); none means the outcome cannot be known and   |
//| the signal is reported UNKNOWN ("outcome unknown ... not sent again"), never re-sent. A signal   |
//| the journal does not know (a lost journal) is also looked up in the last 8 days of history     |
//| before an order is sent. Redelivered signals (DELIVERED, not yet reported) get the kept report. |
//|                                                                                                  |
//| CLOSE_BUY / CLOSE_SELL close every open position of that side on the symbol that carries this   |
//| EA's magic number (positions opened by hand or by other EAs are left alone). Their "sending"    |
//| record lists those positions' tickets; a close answered 10012/10031, like a restart, is settled |
//| by what became of them once the terminal is connected (ReconcileClose), never sent again.        |
//| Positions pushed to the backend: every open position of the account (as the reference does).   |
//| MQL4 and MQL5 (the EA is MT5 only; MT4 compiles for the shared syntax pass).                      |
//+------------------------------------------------------------------+
#ifndef RUBI_CONNECTOR_MQH
#define RUBI_CONNECTOR_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Json.mqh>
#include <Rubi/Files.mqh>
#include <Rubi/Log.mqh>
#include <Rubi/Terminal.mqh>
#include <Rubi/Trade.mqh>
#include <Rubi/Risk.mqh>
#include <Rubi/Http.mqh>
#include <Rubi/Webhooks.mqh>

#define RUBI_CONNECTOR_VERSION     "1.0.0"
#define RUBI_CONNECTOR_TAG_PREFIX  "rubi:"
#define RUBI_JOURNAL_SENDING       "sending"
#define RUBI_JOURNAL_SENT          "sent"
#define RUBI_JOURNAL_REPORTED      "reported"
#define RUBI_JOURNAL_KEEP_REPORTED 2000     // reported records kept (oldest dropped on compaction)
#define RUBI_CONNECTOR_LOOKBACK    691200   // 8 days (signals live at most 7): history searched for a tag
#define RUBI_MAX_POSITIONS_PUSH    500

//+------------------------------------------------------------------+
//| MT5 trade server return codes (MqlTradeResult.retcode) as text   |
//+------------------------------------------------------------------+
string RubiRetcodeName(const int code)
  {
   switch(code)
     {
      case 10004: return "TRADE_RETCODE_REQUOTE";
      case 10006: return "TRADE_RETCODE_REJECT";
      case 10007: return "TRADE_RETCODE_CANCEL";
      case 10008: return "TRADE_RETCODE_PLACED";
      case 10009: return "TRADE_RETCODE_DONE";
      case 10010: return "TRADE_RETCODE_DONE_PARTIAL";
      case 10011: return "TRADE_RETCODE_ERROR";
      case 10012: return "TRADE_RETCODE_TIMEOUT";
      case 10013: return "TRADE_RETCODE_INVALID";
      case 10014: return "TRADE_RETCODE_INVALID_VOLUME";
      case 10015: return "TRADE_RETCODE_INVALID_PRICE";
      case 10016: return "TRADE_RETCODE_INVALID_STOPS";
      case 10017: return "TRADE_RETCODE_TRADE_DISABLED";
      case 10018: return "TRADE_RETCODE_MARKET_CLOSED";
      case 10019: return "TRADE_RETCODE_NO_MONEY";
      case 10020: return "TRADE_RETCODE_PRICE_CHANGED";
      case 10021: return "TRADE_RETCODE_PRICE_OFF";
      case 10022: return "TRADE_RETCODE_INVALID_EXPIRATION";
      case 10023: return "TRADE_RETCODE_ORDER_CHANGED";
      case 10024: return "TRADE_RETCODE_TOO_MANY_REQUESTS";
      case 10025: return "TRADE_RETCODE_NO_CHANGES";
      case 10026: return "TRADE_RETCODE_SERVER_DISABLES_AT";
      case 10027: return "TRADE_RETCODE_CLIENT_DISABLES_AT";
      case 10028: return "TRADE_RETCODE_LOCKED";
      case 10029: return "TRADE_RETCODE_FROZEN";
      case 10030: return "TRADE_RETCODE_INVALID_FILL";
      case 10031: return "TRADE_RETCODE_CONNECTION";
      case 10032: return "TRADE_RETCODE_ONLY_REAL";
      case 10033: return "TRADE_RETCODE_LIMIT_ORDERS";
      case 10034: return "TRADE_RETCODE_LIMIT_VOLUME";
      case 10035: return "TRADE_RETCODE_INVALID_ORDER";
      case 10036: return "TRADE_RETCODE_POSITION_CLOSED";
      case 10038: return "TRADE_RETCODE_INVALID_CLOSE_VOLUME";
      case 10039: return "TRADE_RETCODE_CLOSE_ORDER_EXIST";
      case 10040: return "TRADE_RETCODE_LIMIT_POSITIONS";
      case 10041: return "TRADE_RETCODE_REJECT_CANCEL";
      case 10042: return "TRADE_RETCODE_LONG_ONLY";
      case 10043: return "TRADE_RETCODE_SHORT_ONLY";
      case 10044: return "TRADE_RETCODE_CLOSE_ONLY";
      case 10045: return "TRADE_RETCODE_FIFO_CLOSE";
      case 10046: return "TRADE_RETCODE_HEDGE_PROHIBITED";
     }
   return "";
  }

string RubiRetcodeDescription(const int code)
  {
   switch(code)
     {
      case 10004: return "requote";
      case 10006: return "request rejected";
      case 10007: return "request canceled by trader";
      case 10008: return "order placed";
      case 10009: return "request completed";
      case 10010: return "only part of the request was completed";
      case 10011: return "request processing error";
      case 10012: return "request canceled by timeout";
      case 10013: return "invalid request";
      case 10014: return "invalid volume in the request";
      case 10015: return "invalid price in the request";
      case 10016: return "invalid stops in the request";
      case 10017: return "trade is disabled";
      case 10018: return "market is closed";
      case 10019: return "there is not enough money to complete the request";
      case 10020: return "prices changed";
      case 10021: return "there are no quotes to process the request";
      case 10022: return "invalid order expiration date in the request";
      case 10023: return "order state changed";
      case 10024: return "too frequent requests";
      case 10025: return "no changes in request";
      case 10026: return "autotrading disabled by server";
      case 10027: return "autotrading disabled by client terminal";
      case 10028: return "request locked for processing";
      case 10029: return "order or position frozen";
      case 10030: return "invalid order filling type";
      case 10031: return "no connection with the trade server";
      case 10032: return "operation is allowed only for live accounts";
      case 10033: return "the number of pending orders has reached the limit";
      case 10034: return "the volume of orders and positions for the symbol has reached the limit";
      case 10035: return "incorrect or prohibited order type";
      case 10036: return "position with the specified identifier has already been closed";
      case 10038: return "a close volume exceeds the current position volume";
      case 10039: return "a close order already exists for the position";
      case 10040: return "the number of open positions on the account has reached the server's limit";
      case 10041: return "the pending order activation request is rejected, the order is canceled";
      case 10042: return "only long positions are allowed for the symbol";
      case 10043: return "only short positions are allowed for the symbol";
      case 10044: return "only position closing is allowed for the symbol";
      case 10045: return "position closing is allowed only by FIFO rule";
      case 10046: return "opposite positions on a single symbol are disabled";
     }
   return "";
  }

// "10009 TRADE_RETCODE_DONE: request completed" (unknown codes: "retcode 12345").
string RubiRetcodeText(const int code)
  {
   string name = RubiRetcodeName(code);
   if(name == "")
      return "retcode " + IntegerToString(code);
   return IntegerToString(code) + " " + name + ": " + RubiRetcodeDescription(code);
  }

// OnDeinit's reason as words (REASON_* values).
string RubiDeinitReasonText(const int reason)
  {
   switch(reason)
     {
      case 0: return "the EA was removed from the chart";
      case 1: return "the EA was recompiled";
      case 2: return "the chart symbol or period changed";
      case 3: return "the chart was closed";
      case 4: return "the inputs were changed";
      case 5: return "the account changed";
      case 6: return "a template was applied";
      case 7: return "OnInit failed";
      case 8: return "the terminal is closing";
     }
   return "reason " + IntegerToString(reason);
  }

// The order comment tag of a signal: "rubi:" + the first 20 hex digits of its id (dashes removed,
// lower case): 25 characters, within the 31 brokers keep, the same length for every signal so no
// tag is a prefix of another.
string RubiConnectorTag(const string signal_id)
  {
   string hex = "";
   int n = StringLen(signal_id);
   for(int i = 0; i < n && StringLen(hex) < 20; i++)
     {
      ushort c = StringGetCharacter(signal_id, i);
      if(c == '-')
         continue;
      hex += StringSubstr(signal_id, i, 1);
     }
   return RUBI_CONNECTOR_TAG_PREFIX + RubiLowerAscii(hex);
  }

//+------------------------------------------------------------------+
//| The journal: one record per signal id, append-only lines         |
//| "<fnv1a-32 hex>\t<id>\t<json>\n" (the Outbox line format); the   |
//| last valid line of an id wins, a torn last line is ignored.      |
//+------------------------------------------------------------------+
class RubiConnectorJournal
  {
private:
   string            m_file;
   string            m_ids[];
   string            m_docs[];
   string            m_states[];
   int               m_count;
   int               m_lines;
   int               m_dropped;
   string            m_error;

   int               LineBytes(const string id, const string doc, uchar &out[], const int at) const
     {
      uchar payload[];
      int n = RubiUtf8Encode(id + "\t" + doc, payload);
      uchar head[];
      RubiUtf8Encode(RubiHex(RubiFnv1a(payload, 0, n), 8) + "\t", head);
      ArrayResize(out, at + 9 + n + 1, 4096);
      ArrayCopy(out, head, at, 0, 9);
      if(n > 0)
         ArrayCopy(out, payload, at + 9, 0, n);
      out[at + 9 + n] = '\n';
      return at + 9 + n + 1;
     }
   bool              ParseLine(const uchar &bytes[], const int start, const int len, string &id, string &doc) const
     {
      int n = len;
      if(n > 0 && bytes[start + n - 1] == '\r')
         n--;
      if(n < 11 || bytes[start + 8] != '\t')
         return false;
      string stored;
      if(!RubiUtf8Decode(bytes, start, 8, stored) || stored != RubiHex(RubiFnv1a(bytes, start + 9, n - 9), 8))
         return false;
      string payload;
      if(!RubiUtf8Decode(bytes, start + 9, n - 9, payload))
         return false;
      int tab = StringFind(payload, "\t");
      if(tab <= 0)
         return false;
      id = StringSubstr(payload, 0, tab);
      doc = StringSubstr(payload, tab + 1);
      return doc != "";
     }
   string            StateOfDoc(const string doc) const
     {
      RubiJson j;
      if(!j.Parse(doc))
         return "";
      return j.GetStr(j.Root(), "state", "");
     }
   void              Remember(const string id, const string doc)
     {
      string state = StateOfDoc(doc);
      int i = IndexOf(id);
      if(i < 0)
        {
         ArrayResize(m_ids, m_count + 1, 64);
         ArrayResize(m_docs, m_count + 1, 64);
         ArrayResize(m_states, m_count + 1, 64);
         i = m_count;
         m_count++;
         m_ids[i] = id;
        }
      m_docs[i] = doc;
      m_states[i] = state;
     }

public:
                     RubiConnectorJournal() { m_file = ""; m_count = 0; m_lines = 0; m_dropped = 0; m_error = ""; }
   int               Count() const { return m_count; }
   string            IdAt(const int i) const { return i >= 0 && i < m_count ? m_ids[i] : ""; }
   string            DocAt(const int i) const { return i >= 0 && i < m_count ? m_docs[i] : ""; }
   string            StateAt(const int i) const { return i >= 0 && i < m_count ? m_states[i] : ""; }
   int               Dropped() const { return m_dropped; }
   string            Error() const { return m_error; }
   string            File() const { return m_file; }
   int               IndexOf(const string id) const
     {
      for(int i = m_count - 1; i >= 0; i--)
         if(m_ids[i] == id)
            return i;
      return -1;
     }
   string            StateOf(const string id) const { return StateAt(IndexOf(id)); }
   string            DocOf(const string id) const { return DocAt(IndexOf(id)); }
   // Records not yet acknowledged by the backend (sending or sent).
   int               Unsettled() const
     {
      int n = 0;
      for(int i = 0; i < m_count; i++)
         if(m_states[i] != RUBI_JOURNAL_REPORTED)
            n++;
      return n;
     }

   // Loads Files/<file_name> (missing: empty). Rewrites it compacted when it holds many superseded
   // lines, a damaged line or too many reported records. False only when that rewrite failed.
   bool              Open(const string file_name)
     {
      m_file = file_name;
      m_count = 0;
      m_lines = 0;
      m_dropped = 0;
      m_error = "";
      ArrayFree(m_ids);
      ArrayFree(m_docs);
      ArrayFree(m_states);
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
         string id;
         string doc;
         if(ParseLine(bytes, start, i - start, id, doc))
           {
            Remember(id, doc);
            m_lines++;
           }
         else
            m_dropped++;
         start = i + 1;
        }
      if(start < size)
         m_dropped++;  // torn last line: a crash while appending (that record was never acted on)
      if(m_dropped > 0 || m_lines > m_count * 2 + 100 || m_count > RUBI_JOURNAL_KEEP_REPORTED + 200)
         return Compact();
      return true;
     }

   // A reported record may be forgotten once the backend can no longer redeliver its signal: older
   // than RUBI_CONNECTOR_LOOKBACK (signals live at most 7 days). A younger one is kept whatever the
   // count: forgotten, a redelivered REJECTED/FAILED open or any CLOSE_* would be executed again.
   bool              Forgettable(const int i) const
     {
      if(m_states[i] != RUBI_JOURNAL_REPORTED)
         return false;
      RubiJson j;
      if(!j.Parse(m_docs[i]))
         return true;
      long gmt = j.GetLong(j.Root(), "gmt", 0);
      return (long)TermTimeGmt() - gmt > RUBI_CONNECTOR_LOOKBACK;
     }

   // Rewrites the file with the latest record of each id (temp file + move), dropping the oldest
   // reported records beyond RUBI_JOURNAL_KEEP_REPORTED that are old enough (Forgettable).
   // Unsettled records are always kept.
   bool              Compact()
     {
      int reported = 0;
      for(int i = 0; i < m_count; i++)
         if(m_states[i] == RUBI_JOURNAL_REPORTED)
            reported++;
      int drop = reported - RUBI_JOURNAL_KEEP_REPORTED;
      int w = 0;
      for(int i = 0; i < m_count; i++)
        {
         if(drop > 0 && Forgettable(i))
           {
            drop--;
            continue;
           }
         if(w != i)
           {
            m_ids[w] = m_ids[i];
            m_docs[w] = m_docs[i];
            m_states[w] = m_states[i];
           }
         w++;
        }
      m_count = w;
      ArrayResize(m_ids, w);
      ArrayResize(m_docs, w);
      ArrayResize(m_states, w);
      uchar out[];
      int len = 0;
      for(int i = 0; i < m_count; i++)
         len = LineBytes(m_ids[i], m_docs[i], out, len);
      if(!RubiFileWriteAtomic(m_file, out, len))
        {
         m_error = "cannot rewrite " + m_file;
         return false;
        }
      m_lines = m_count;
      return true;
     }

   // Appends the new record of `id` (flushed and closed before returning). False: nothing was
   // written durably, and the caller must not act on it (no order is sent).
   bool              Put(const string id, const string doc)
     {
      if(id == "" || StringFind(id, "\t") >= 0 || StringFind(id, "\n") >= 0 || doc == "" || StringFind(doc, "\n") >= 0 || StringFind(doc, "\r") >= 0)
        {
         m_error = "invalid journal record for " + id;
         return false;
        }
      uchar line[];
      int n = LineBytes(id, doc, line, 0);
      if(!RubiFileAppend(m_file, line, n))
        {
         m_error = "cannot append to " + m_file;
         return false;
        }
      Remember(id, doc);
      m_lines++;
      return true;
     }
  };

//+------------------------------------------------------------------+
//| Configuration (the EA's inputs)                                  |
//+------------------------------------------------------------------+
struct RubiConnectorConfig
  {
   string            backend_url;        // <SUPABASE_URL>/functions/v1
   string            key_id;
   string            secret;             // whsec_...
   int               check_interval_ms;
   bool              auto_trading;
   double            max_risk_percent;   // 0: no check
   int               max_open_positions; // 0: no limit
   long              magic;
   string            symbols;            // comma-separated, specs sent on connect
   int               slippage_points;
   int               reconcile_grace_s;  // a "sending" record younger than this waits for history
   string            journal_file;       // "": Rubi\connector-<magic>.journal
   string            ea_version;
                     RubiConnectorConfig()
     {
      backend_url = "";
      key_id = "";
      secret = "";
      check_interval_ms = 5000;
      auto_trading = true;
      max_risk_percent = 2.0;
      max_open_positions = 5;
      magic = 20261121;
      symbols = "";
      slippage_points = 20;
      reconcile_grace_s = 30;
      journal_file = "";
      ea_version = RUBI_CONNECTOR_VERSION;
     }
  };

// Why the inputs cannot work ("" when they can): checked by OnInit before anything else.
string RubiConnectorConfigProblem(const RubiConnectorConfig &c)
  {
   string url = RubiLowerAscii(RubiTrim(c.backend_url));
   if(!RubiStartsWith(url, "https://") && !RubiStartsWith(url, "http://"))
      return "BackendURL must start with https:// (e.g. https://<project>.supabase.co/functions/v1)";
   if(RubiTrim(c.key_id) == "")
      return "KeyId is empty: create an EA key on the dashboard (EA keys) and paste its id";
   uchar key[];
   if(!RubiStartsWith(RubiTrim(c.secret), RUBI_SECRET_PREFIX) || !RubiWebhookKey(RubiTrim(c.secret), key))
      return "KeySecret must be the whsec_... secret shown once when the EA key was created";
   if(c.check_interval_ms < 500 || c.check_interval_ms > 600000)
      return "CheckInterval must be between 500 and 600000 milliseconds";
   if(c.max_risk_percent < 0 || c.max_risk_percent > 100)
      return "MaxRiskPercent must be between 0 (no check) and 100";
   if(c.max_open_positions < 0)
      return "MaxOpenPositions must be 0 (no limit) or more";
   if(c.magic <= 0)
      return "MagicNumber must be a positive number";
   if(c.slippage_points < 0)
      return "SlippagePoints must be 0 or more";
   return "";
  }

//+------------------------------------------------------------------+
//| A status report (POST /signals/{id}/status body)                 |
//+------------------------------------------------------------------+
struct RubiConnectorReport
  {
   string            status;       // EXECUTED / REJECTED / FAILED / UNKNOWN (outcome unknown)
   long              order_ticket;
   double            price;
   double            volume;
   int               retcode;      // 0: none (null)
   string            message;
   string            executed_at;  // "" for none
  };

void RubiConnectorReportReset(RubiConnectorReport &r, const string status, const int retcode, const string message)
  {
   r.status = status;
   r.order_ticket = 0;
   r.price = 0;
   r.volume = 0;
   r.retcode = retcode;
   r.message = message;
   r.executed_at = "";
  }

string RubiConnectorReportJson(const RubiConnectorReport &r)
  {
   RubiJsonWriter w;
   w.BeginObject();
   w.KeyStr("status", r.status);
   if(r.order_ticket > 0)
      w.KeyInt("order_ticket", r.order_ticket);
   if(r.price > 0)
      w.KeyNum("price", r.price);
   if(r.volume > 0)
      w.KeyNum("volume", r.volume);
   if(r.retcode != 0)
      w.KeyInt("retcode", r.retcode);
   else
      w.KeyNull("retcode");
   string m = r.message;
   if(StringLen(m) > 1000)
      m = StringSubstr(m, 0, 997) + "...";
   if(m != "")
      w.KeyStr("message", m);
   if(r.executed_at != "")
      w.KeyStr("executed_at", r.executed_at);
   w.EndObject();
   return w.Text();
  }

// A signal as /signals/pending returns it (the fields the EA uses).
struct RubiConnectorSignal
  {
   string            id;
   string            type;          // BUY / SELL / CLOSE_BUY / CLOSE_SELL
   string            symbol;
   double            volume;        // 0: none
   double            stop_loss;     // 0: none
   double            take_profit;   // 0: none
   double            entry_price;   // 0: at market
   double            risk_percent;  // 0: fixed volume
   datetime          expires_at;    // UTC; 0: none
  };

//+------------------------------------------------------------------+
//| The connector                                                    |
//+------------------------------------------------------------------+
class RubiConnector
  {
private:
   string            m_url;
   string            m_key_id;
   string            m_secret;
   bool              m_auto_trading;
   double            m_max_risk_percent;
   int               m_max_open_positions;
   long              m_magic;
   string            m_symbols[];
   int               m_slippage;
   int               m_grace_s;
   string            m_ea_version;
   RubiHttpOptions   m_http;
   RubiConnectorJournal m_journal;
   string            m_session;
   int               m_ping_interval_s;
   string            m_last_pushed;
   bool              m_pushed_once;
   int               m_signals_received;
   int               m_orders_executed;
   int               m_errors;
   string            m_last_problem;   // the last HTTP problem logged (logged again only when it changes)
   bool              m_journal_ok;
   string            m_warned_symbols;  // symbols already reported as unusable (one line each)
   string            m_mem_ids[];       // reports that could not be journaled (disk full), this run only
   string            m_mem_reports[];
   datetime          m_poll_utc;        // the backend's server_time of the last /signals/pending (UTC)

   //--- logging -----------------------------------------------------------------------------------
   void              Problem(const string message)
     {
      if(message == m_last_problem)
         return;
      m_last_problem = message;
      RubiLogError(message);
     }

   string            ErrorOf(const RubiHttpResponse &r) const
     {
      if(r.status == -1)
         return r.blocked ? "WebRequest not allowed" : "no response (error " + IntegerToString(r.error) + ")";
      string detail = "";
      RubiJson j;
      if(j.Parse(r.body))
        {
         int e = j.Key(j.Root(), "error");
         if(j.Type(e) == RUBI_JSON_OBJECT)
            detail = j.GetStr(e, "code", "") + ": " + j.GetStr(e, "message", "");
         else
            if(j.Type(e) == RUBI_JSON_STRING)
               detail = j.Str(e);
        }
      else
         detail = StringSubstr(r.body, 0, 200);
      return "HTTP " + IntegerToString(r.status) + (detail == "" ? "" : " " + detail);
     }

   // A signed JSON request to <url><path>. True on 2xx; failures are counted and logged (once per
   // distinct problem) with what to do about them.
   bool              Call(const string method, const string path, const string json, RubiHttpResponse &r)
     {
      bool ok = RubiHttpSigned(method, m_url + path, json, RUBI_HEADER_KEY_ID, m_key_id, m_secret, m_http, r);
      if(ok)
        {
         m_last_problem = "";
         return true;
        }
      m_errors++;
      if(r.blocked)
         return false;  // Http.mqh logged the allow-list line
      string what = method + " " + path + ": " + ErrorOf(r);
      if(RubiHttpClockSkew(r))
         Problem(what + " - this computer's clock is more than 300 s off and " +
                 (r.clock_resynced ? "still refused after setting it from the backend's Date header" : "the answer carried no Date header to set it from") +
                 ": synchronise the Windows clock (the signature carries the UTC time)");
      else
         if(RubiHttpReplayed(r))
            Problem(what + " - the backend refused the X-Trade-Id as already used: trying again on the next timer with a new one");
         else
            if(r.status == 401 && StringFind(r.body, "signature does not match") >= 0)
               Problem(what + " - KeyId is unknown or KeySecret does not belong to it (the backend does not say which): check KeyId, and paste the whsec_ secret shown when this key was created");
            else
               if(r.status == 401 || r.status == 403)
                  Problem(what + " - the backend refused the EA key: check KeyId and KeySecret (dashboard, EA keys; a revoked key needs a new one)");
               else
                  if(r.status == -1 || r.status >= 500 || r.status == 429 || r.status == 408)
                     Problem(what + " - the backend is unreachable or busy: retrying on the next timer");
                  else
                     if(r.status != 404 && r.status != 409)
                        Problem(what);
      return false;
     }

   //--- account and symbols -----------------------------------------------------------------------
   // The trade server's UTC offset, against this computer's clock corrected by the offset learnt
   // from the backend (a clock more than 300 s off would round to the wrong quarter hour).
   int               ServerOffset() const { return RubiServerOffset(TermTimeServer(), RubiSigningTime()); }
   string            UtcOfServerTime(const datetime t) const { return RubiIsoTime((datetime)((long)t - ServerOffset())); }

   void              WriteMoney(RubiJsonWriter &w, const string key, const double v) const { w.KeyNumDigits(key, v, 2); }

   int               CountOurPositions(const RubiPosition &positions[]) const
     {
      int n = 0;
      for(int i = 0; i < ArraySize(positions); i++)
         if(positions[i].magic == m_magic)
            n++;
      return n;
     }

   //--- journal records ---------------------------------------------------------------------------
   // `note`: why a "sending" record stays unsettled although the order returned (e.g. a timeout).
   // `tickets_json`: a CLOSE's "sending" record holds the tickets of the positions it is about to
   // close (a JSON array, "tickets":[...]); "" for none (opens, outcomes). A record without the key
   // (written by an earlier version) is reconciled by magic, symbol and side as before.
   string            JournalDoc(const string state, const RubiConnectorSignal &s, const string tag, const datetime server_at, const string report_json,
                                const string note, const string tickets_json) const
     {
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyStr("state", state);
      w.KeyStr("tag", tag);
      w.KeyStr("type", s.type);
      w.KeyStr("symbol", s.symbol);
      w.KeyInt("at", (long)server_at);
      w.KeyInt("gmt", (long)TermTimeGmt());
      if(note != "")
         w.KeyStr("note", note);
      if(tickets_json != "")
         w.KeyRaw("tickets", tickets_json);
      if(report_json != "")
         w.KeyRaw("report", report_json);
      w.EndObject();
      return w.Text();
     }

   // The tickets as a JSON array ("[1,2]").
   string            TicketsJson(const long &tickets[]) const
     {
      RubiJsonWriter w;
      w.BeginArray();
      for(int i = 0; i < ArraySize(tickets); i++)
         w.Int(tickets[i]);
      w.EndArray();
      return w.Text();
     }

   // The journal record with a new state (keeps tag, type, symbol, at, report).
   string            Restate(const string doc, const string state, const string report_json) const
     {
      RubiJson j;
      if(!j.Parse(doc))
         return "";
      int root = j.Root();
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyStr("state", state);
      w.KeyStr("tag", j.GetStr(root, "tag", ""));
      w.KeyStr("type", j.GetStr(root, "type", ""));
      w.KeyStr("symbol", j.GetStr(root, "symbol", ""));
      w.KeyInt("at", j.GetLong(root, "at", 0));
      w.KeyInt("gmt", j.GetLong(root, "gmt", 0));
      if(report_json != "")
         w.KeyRaw("report", report_json);
      else
        {
         int rep = j.Key(root, "report");
         if(rep >= 0)
           {
            w.Key("report");
            j.WriteTo(rep, w);
           }
        }
      w.EndObject();
      return w.Text();
     }

   string            ReportOfDoc(const string doc) const
     {
      RubiJson j;
      if(!j.Parse(doc))
         return "";
      int rep = j.Key(j.Root(), "report");
      if(rep < 0)
         return "";
      RubiJsonWriter w;
      j.WriteTo(rep, w);
      return w.Text();
     }

   // Records the outcome; logs it. False when the journal could not be written (the report is
   // still sent this run; a restart would then find the order by its tag).
   bool              RecordOutcome(const string id, const RubiConnectorSignal &s, const string tag, const datetime at, const RubiConnectorReport &rep)
     {
      string json = RubiConnectorReportJson(rep);
      string line = "signal " + id + ": " + rep.status;
      if(rep.order_ticket > 0)
         line += " order " + IntegerToString(rep.order_ticket);
      if(rep.message != "")
         line += " - " + rep.message;
      if(rep.status == "EXECUTED")
         RubiLogInfo(line);
      else
         RubiLogWarn(line);
      if(rep.status == "FAILED" || rep.status == "UNKNOWN")
         m_errors++;
      if(!m_journal.Put(id, JournalDoc(RUBI_JOURNAL_SENT, s, tag, at, json, "", "")))
        {
         RubiLogError("journal: " + m_journal.Error() + " - the outcome of signal " + id + " is only in memory until it is reported");
         KeepInMemory(id, json);
         return false;
        }
      return true;
     }

   // Reports that could not be journaled (disk full): kept in memory for this run.
   void              KeepInMemory(const string id, const string json)
     {
      int n = ArraySize(m_mem_ids);
      ArrayResize(m_mem_ids, n + 1);
      ArrayResize(m_mem_reports, n + 1);
      m_mem_ids[n] = id;
      m_mem_reports[n] = json;
     }

   //--- reconciling a "sending" record --------------------------------------------------------------
   // Fills `rep` from the terminal's history and positions for a record that was being sent. Returns
   // false when it is too early to decide (within the grace period and nothing found yet).
   bool              Reconcile(const string id, const string doc, RubiConnectorReport &rep)
     {
      RubiJson j;
      j.Parse(doc);
      int root = j.Root();
      string tag = j.GetStr(root, "tag", RubiConnectorTag(id));
      string type = j.GetStr(root, "type", "");
      string symbol = j.GetStr(root, "symbol", "");
      datetime at = (datetime)j.GetLong(root, "at", 0);
      long gmt = j.GetLong(root, "gmt", 0);
      string note = j.GetStr(root, "note", "");
      bool closing = type == "CLOSE_BUY" || type == "CLOSE_SELL";
      int tickets = j.Key(root, "tickets");
      if(closing && j.Type(tickets) == RUBI_JSON_ARRAY)
         return ReconcileClose(j, tickets, type, symbol, at, gmt, note, rep);
      RubiDeal deals[];
      int n = TermHistoryDeals((datetime)((long)at - 300), (datetime)((long)TermTimeServer() + 86400), deals);
      if(!closing)
        {
         int d = n > 0 ? RubiFindDeal(deals, m_magic, tag, (datetime)((long)at - 300)) : -1;
         if(d >= 0)
           {
            RubiConnectorReportReset(rep, "EXECUTED", TermPlatform() == "MT5" ? 10009 : 0,
                                     "order found in the terminal's history after a restart (deal " + IntegerToString(deals[d].ticket) + ", comment " + tag + "): not sent again");
            rep.order_ticket = deals[d].order > 0 ? deals[d].order : deals[d].position_id;
            rep.price = deals[d].price;
            rep.volume = deals[d].volume;
            rep.executed_at = UtcOfServerTime(deals[d].time);
            return true;
           }
         RubiPosition positions[];
         TermPositions(positions);
         int p = RubiFindPosition(positions, m_magic, tag);
         if(p >= 0)
           {
            RubiConnectorReportReset(rep, "EXECUTED", TermPlatform() == "MT5" ? 10009 : 0,
                                     "open position " + IntegerToString(positions[p].ticket) + " with comment " + tag + " found after a restart: not sent again");
            rep.order_ticket = positions[p].ticket;
            rep.price = positions[p].open_price;
            rep.volume = positions[p].volume;
            rep.executed_at = UtcOfServerTime(positions[p].open_time);
            return true;
           }
        }
      else
        {
         // Closing deals (OUT) of our magic on the symbol, on the side that closes `type`, since the
         // record was written: the close went (at least partly) through.
         int want = type == "CLOSE_BUY" ? RUBI_DEAL_SELL : RUBI_DEAL_BUY;
         int found = -1;
         double volume = 0;
         int count = 0;
         for(int i = 0; i < n; i++)
           {
            if(deals[i].magic != m_magic || deals[i].symbol != symbol || deals[i].type != want || deals[i].time < at)
               continue;
            if(deals[i].entry != RUBI_ENTRY_OUT && deals[i].entry != RUBI_ENTRY_OUT_BY)
               continue;
            if(found < 0)
               found = i;
            volume += deals[i].volume;
            count++;
           }
         if(found >= 0)
           {
            RubiConnectorReportReset(rep, "EXECUTED", TermPlatform() == "MT5" ? 10009 : 0,
                                     IntegerToString(count) + " closing deal(s) found in the terminal's history after a restart; positions still open were not closed again");
            rep.order_ticket = deals[found].order > 0 ? deals[found].order : deals[found].position_id;
            rep.price = deals[found].price;
            rep.volume = RubiToFixed(volume, 8);
            rep.executed_at = UtcOfServerTime(deals[found].time);
            return true;
           }
        }
      if((long)TermTimeGmt() - gmt < m_grace_s)
         return false;  // the terminal may still be loading history: decide on a later timer
      if(!TermConnected())
         return false;  // no trade server: its deals of the meantime are not in the history yet
      RubiConnectorReportReset(rep, "UNKNOWN", 0,
                               "outcome unknown: " + (note != "" ? "the trade server answered " + note : "the EA restarted while this signal was being sent") +
                               "; no " + (closing ? "closing deal" : "order") +
                               " with magic " + IntegerToString(m_magic) + (closing ? " on " + symbol : " and comment " + tag) +
                               " was found in the terminal's history or positions; the order was not sent again - check the account before sending the signal again");
      return true;
     }

   // What became of one position a CLOSE was sending a close for (ReconcileClose).
   string            ClosedByText(const long ticket, const int reason) const
     {
      string what = reason == RUBI_DEAL_REASON_SL ? "by its stop loss" : (reason == RUBI_DEAL_REASON_TP ? "by its take profit" : "but not by this EA");
      return "position " + IntegerToString(ticket) + " was closed " + what;
     }

   // Settles a CLOSE's "sending" record that lists its positions (`arr`, the "tickets" array), once
   // the terminal is connected and the grace period is over (before that its positions and history may
   // be stale: false, decide on a later timer). Each position counts as closed by this signal when a
   // closing deal of it (DEAL_POSITION_ID = the ticket) carries this EA's magic and was made by an EA
   // (DEAL_REASON_EXPERT; MT4, which gives no reason: any closing deal with the magic), or when it is
   // gone without a deal in the history. A stop loss, take profit or manual close does not execute the
   // signal. Some closed: EXECUTED; some still open: UNKNOWN (outcome unknown); all closed otherwise:
   // REJECTED. Nothing is ever closed again from here.
   bool              ReconcileClose(const RubiJson &j, const int arr, const string type, const string symbol, const datetime at, const long gmt, const string note,
                                    RubiConnectorReport &rep)
     {
      if((long)TermTimeGmt() - gmt < m_grace_s)
         return false;  // the terminal may still be loading history
      if(!TermConnected())
         return false;  // no trade server: its closes of the meantime are not in the terminal yet
      string side_name = type == "CLOSE_BUY" ? "BUY" : "SELL";
      string cause = note != "" ? "the trade server answered " + note : "the EA restarted while this signal was being sent";
      RubiDeal deals[];
      int n = TermHistoryDeals((datetime)((long)at - 300), (datetime)((long)TermTimeServer() + 86400), deals);
      RubiPosition positions[];
      int np = TermPositions(positions);
      int total = 0;
      int closed = 0;
      int still_open = 0;
      int first = -1;
      long first_gone = 0;
      double volume = 0;
      string others = "";
      for(int item = j.First(arr); item >= 0; item = j.Next(item))
        {
         long ticket = j.Long(item);
         if(ticket <= 0)
            continue;
         total++;
         int ours = -1;
         int by = -1;
         double v = 0;
         for(int i = 0; i < n; i++)
           {
            if(deals[i].position_id != ticket || (deals[i].entry != RUBI_ENTRY_OUT && deals[i].entry != RUBI_ENTRY_OUT_BY))
               continue;
            if(deals[i].magic == m_magic && (deals[i].reason == RUBI_DEAL_REASON_EXPERT || deals[i].reason == RUBI_DEAL_REASON_UNKNOWN))
              {
               if(ours < 0)
                  ours = i;
               v += deals[i].volume;
              }
            else
               if(by < 0)
                  by = i;
           }
         if(ours >= 0)
           {
            closed++;
            volume += v;
            if(first < 0)
               first = ours;
            continue;
           }
         bool is_open = false;
         for(int k = 0; k < np && !is_open; k++)
            is_open = positions[k].ticket == ticket;
         if(is_open)
           {
            still_open++;
            others += (others == "" ? "" : "; ") + "position " + IntegerToString(ticket) + " is still open";
            continue;
           }
         if(by >= 0)
           {
            others += (others == "" ? "" : "; ") + ClosedByText(ticket, deals[by].reason);
            continue;
           }
         closed++;  // gone, its deal not (yet) in the history: the close went through
         if(first_gone == 0)
            first_gone = ticket;
        }
      if(total == 0)
        {
         RubiConnectorReportReset(rep, "REJECTED", TermPlatform() == "MT5" ? 10036 : 0,
                                  "no open " + side_name + " position on " + symbol + " opened by this EA (magic " + IntegerToString(m_magic) + ")");
         return true;
        }
      if(closed > 0)
        {
         RubiConnectorReportReset(rep, "EXECUTED", TermPlatform() == "MT5" ? 10009 : 0,
                                  "closed " + IntegerToString(closed) + " " + side_name + " position(s) on " + symbol + ", found in the terminal after " +
                                  (note != "" ? "the trade server answered " + note : "a restart") + ": not closed again" + (others != "" ? "; " + others : ""));
         if(first >= 0)
           {
            rep.order_ticket = deals[first].order > 0 ? deals[first].order : deals[first].position_id;
            rep.price = deals[first].price;
            rep.executed_at = UtcOfServerTime(deals[first].time);
           }
         else
            rep.order_ticket = first_gone;
         rep.volume = RubiToFixed(volume, 8);
         return true;
        }
      if(still_open > 0)
        {
         RubiConnectorReportReset(rep, "UNKNOWN", 0,
                                  "outcome unknown: " + cause + "; " + others + " and no closing deal of it with magic " + IntegerToString(m_magic) +
                                  " was found in the terminal's history; the close was not sent again - check the account before sending the signal again");
         return true;
        }
      RubiConnectorReportReset(rep, "REJECTED", 0, others + " before the signal was executed: this EA closed nothing (" + cause + ")");
      return true;
     }

   // Settles every "sending" record (after a restart) into "sent" with its report.
   void              Recover()
     {
      for(int i = 0; i < m_journal.Count(); i++)
        {
         if(m_journal.StateAt(i) != RUBI_JOURNAL_SENDING)
            continue;
         string id = m_journal.IdAt(i);
         string doc = m_journal.DocAt(i);
         RubiConnectorReport rep;
         if(!Reconcile(id, doc, rep))
            continue;
         string json = RubiConnectorReportJson(rep);
         RubiLogWarn("signal " + id + ": recovered after a restart: " + rep.status + (rep.order_ticket > 0 ? " order " + IntegerToString(rep.order_ticket) : "") + " - " + rep.message);
         if(rep.status == "FAILED" || rep.status == "UNKNOWN")
            m_errors++;
         if(!m_journal.Put(id, Restate(doc, RUBI_JOURNAL_SENT, json)))
           {
            RubiLogError("journal: " + m_journal.Error());
            KeepInMemory(id, json);
           }
        }
     }

   //--- reporting ---------------------------------------------------------------------------------
   // Sends the kept report of `id`. True when the backend has it (or has a final state already).
   bool              SendReport(const string id, const string json)
     {
      RubiHttpResponse r;
      bool ok = Call("POST", "/signals/" + id + "/status", json, r);
      if(!ok && !(r.status == 404 || r.status == 409 || r.status == 400 || r.status == 422))
        {
         RubiLogWarn("signal " + id + ": report kept, sent again on the next timer (" + ErrorOf(r) + ")");
         return false;
        }
      if(!ok)
         RubiLogWarn("signal " + id + ": the backend did not take the report (" + ErrorOf(r) + "): it already holds a final state or no longer knows the signal; report dropped");
      return true;
     }

   bool              Report(const string id)
     {
      int mem = -1;
      for(int k = 0; k < ArraySize(m_mem_ids); k++)
         if(m_mem_ids[k] == id)
            mem = k;
      string doc = m_journal.DocOf(id);
      string json = mem >= 0 ? m_mem_reports[mem] : ReportOfDoc(doc);
      if(json == "")
         return false;
      if(!SendReport(id, json))
         return false;
      if(mem >= 0)
         m_mem_ids[mem] = "";
      if(doc != "" && m_journal.StateOf(id) == RUBI_JOURNAL_SENT && !m_journal.Put(id, Restate(doc, RUBI_JOURNAL_REPORTED, "")))
         RubiLogError("journal: " + m_journal.Error());
      return true;
     }

   // Resends every kept report (sent, not acknowledged).
   void              FlushReports()
     {
      for(int i = 0; i < m_journal.Count(); i++)
         if(m_journal.StateAt(i) == RUBI_JOURNAL_SENT)
            if(!Report(m_journal.IdAt(i)))
               return;  // the backend is not taking reports now: next timer
      for(int k = 0; k < ArraySize(m_mem_ids); k++)
         if(m_mem_ids[k] != "")
            Report(m_mem_ids[k]);
     }

   //--- executing ---------------------------------------------------------------------------------
   // The tickets of the open positions a CLOSE_BUY / CLOSE_SELL closes: that side, that symbol, this
   // EA's magic number. Returns how many.
   int               CloseTickets(const RubiConnectorSignal &s, long &tickets[])
     {
      int side = s.type == "CLOSE_BUY" ? RUBI_BUY : RUBI_SELL;
      RubiPosition positions[];
      int n = TermPositions(positions);
      ArrayResize(tickets, 0);
      int count = 0;
      for(int i = 0; i < n; i++)
        {
         if(positions[i].symbol != s.symbol || positions[i].side != side || positions[i].magic != m_magic)
            continue;
         ArrayResize(tickets, count + 1, 16);
         tickets[count] = positions[i].ticket;
         count++;
        }
      return count;
     }

   // Closes the positions `tickets` (CloseTickets). A close answered with a timeout (10012) or a lost
   // connection (10031) may have gone through: `note` is then set to that retcode's text and `rep` must
   // not be reported (the caller keeps the record "sending"; Reconcile settles it). Each position is
   // sent one close at most.
   void              ExecuteClose(const RubiConnectorSignal &s, const long &tickets[], RubiConnectorReport &rep, string &note)
     {
      int side = s.type == "CLOSE_BUY" ? RUBI_BUY : RUBI_SELL;
      string side_name = side == RUBI_BUY ? "BUY" : "SELL";
      int n = ArraySize(tickets);
      int closed = 0;
      int failed = 0;
      double volume = 0;
      string failures = "";
      int first_fail = 0;
      note = "";
      for(int i = 0; i < n; i++)
        {
         RubiOrderResult res;
         if(TermClosePosition(tickets[i], 0, m_slippage, res))
           {
            if(closed == 0)
              {
               rep.order_ticket = res.order > 0 ? res.order : tickets[i];
               rep.price = res.price;
               rep.retcode = res.retcode;
               rep.executed_at = UtcOfServerTime(res.time);
              }
            closed++;
            volume += res.volume;
           }
         else
            if(res.retcode == 10012 || res.retcode == 10031)
              {
               if(note == "")
                  note = RubiRetcodeText(res.retcode);
              }
            else
              {
               if(failed == 0)
                  first_fail = res.retcode;
               failed++;
               failures += (failures == "" ? "" : "; ") + "position " + IntegerToString(tickets[i]) + ": " +
                           (res.retcode != 0 ? RubiRetcodeText(res.retcode) : res.message);
              }
        }
      if(note != "")
         return;
      if(closed == 0 && failed == 0)
        {
         RubiConnectorReportReset(rep, "REJECTED", TermPlatform() == "MT5" ? 10036 : 0,
                                  "no open " + side_name + " position on " + s.symbol + " opened by this EA (magic " + IntegerToString(m_magic) + ")");
         return;
        }
      if(closed == 0)
        {
         RubiConnectorReportReset(rep, first_fail != 0 ? "REJECTED" : "FAILED", first_fail, "closing failed: " + failures);
         return;
        }
      rep.status = "EXECUTED";
      rep.volume = RubiToFixed(volume, 8);
      rep.message = "closed " + IntegerToString(closed) + " " + side_name + " position(s) on " + s.symbol +
                    (rep.retcode != 0 ? " (" + RubiRetcodeText(rep.retcode) + ")" : "") + (failed > 0 ? "; not closed: " + failures : "");
     }

   // Checks an opening signal against the EA's inputs and the symbol: true when it may be sent (with
   // `volume` normalised to the symbol), else false with `rep` filled (REJECTED or FAILED).
   bool              CheckOpen(const RubiConnectorSignal &s, RubiSymbolSpec &spec, double &volume, RubiConnectorReport &rep)
     {
      if(!m_auto_trading)
        {
         RubiConnectorReportReset(rep, "REJECTED", 0, "auto-trading is off in the EA's inputs (EnableAutoTrading=false): signal not executed");
         return false;
        }
      RubiAccount account;
      if(!TermAccount(account))
        {
         RubiConnectorReportReset(rep, "FAILED", 0, "the terminal is not logged in to a trading account");
         return false;
        }
      if(!account.trade_allowed)
        {
         RubiConnectorReportReset(rep, "REJECTED", TermPlatform() == "MT5" ? 10027 : 0,
                                  "trading is not allowed in the terminal: turn on Algo Trading (toolbar) and 'Allow Algo Trading' in the EA's properties");
         return false;
        }
      if(!TermSymbolSpec(s.symbol, spec))
        {
         RubiConnectorReportReset(rep, "FAILED", 0, "symbol " + s.symbol + " is not available in this terminal (check its name at this broker and Market Watch)");
         return false;
        }
      if(!spec.trade_allowed)
        {
         RubiConnectorReportReset(rep, "REJECTED", TermPlatform() == "MT5" ? 10017 : 0, "trading is disabled or close-only for " + s.symbol + " at this broker");
         return false;
        }
      if(!(s.volume > 0))
        {
         RubiConnectorReportReset(rep, "FAILED", 0, "the signal carries no volume");
         return false;
        }
      RubiVolumeSpec vspec;
      RubiVolumeSpecOf(spec, vspec);
      string reason = "";
      if(!RubiNormalizeVolume(s.volume, vspec, volume, reason))
        {
         RubiConnectorReportReset(rep, "REJECTED", 0, reason);
         return false;
        }
      if(m_max_open_positions > 0)
        {
         RubiPosition positions[];
         TermPositions(positions);
         int ours = CountOurPositions(positions);
         if(ours >= m_max_open_positions)
           {
            RubiConnectorReportReset(rep, "REJECTED", 0, "MaxOpenPositions reached: " + IntegerToString(ours) + " open position(s) with magic " +
                                     IntegerToString(m_magic) + ", limit " + IntegerToString(m_max_open_positions));
            return false;
           }
        }
      int side = s.type == "BUY" ? RUBI_BUY : RUBI_SELL;
      if(m_max_risk_percent > 0)
        {
         // The larger of the percent it was sized for and what its volume loses at the stop-loss from
         // the market price, on today's equity: the price or the equity may have moved since the
         // server sized it.
         double risk = s.risk_percent > 0 ? s.risk_percent : 0;
         if(s.stop_loss > 0 && spec.tick_size > 0 && account.equity > 0)
           {
            double entry = side == RUBI_BUY ? spec.ask : spec.bid;
            double loss = RubiDecimalDistance(entry, s.stop_loss) / spec.tick_size * spec.tick_value * volume;
            risk = MathMax(risk, loss / account.equity * 100);
           }
         if(risk > m_max_risk_percent * 1.000001)
           {
            RubiConnectorReportReset(rep, "REJECTED", 0, "the signal risks " + RubiNumber(RubiToFixed(risk, 2)) + "% of equity at its stop-loss, above MaxRiskPercent " +
                                     RubiNumber(m_max_risk_percent) + "%");
            return false;
           }
        }
      string stops = RubiStopsProblem(spec, side, s.stop_loss, s.take_profit);
      if(stops != "")
        {
         RubiConnectorReportReset(rep, "REJECTED", 0, stops);
         return false;
        }
      return true;
     }

   // Executes a signal the journal does not know; leaves its outcome in the journal ("sent").
   void              Execute(const RubiConnectorSignal &s)
     {
      string tag = RubiConnectorTag(s.id);
      datetime at = TermTimeServer();
      RubiConnectorReport rep;
      RubiConnectorReportReset(rep, "FAILED", 0, "");
      m_signals_received++;
      string stops_text = (s.stop_loss > 0 ? " sl " + RubiNumber(s.stop_loss) : "") + (s.take_profit > 0 ? " tp " + RubiNumber(s.take_profit) : "");
      RubiLogInfo("signal " + s.id + ": " + s.type + " " + s.symbol + (s.volume > 0 ? " " + RubiNumber(s.volume) + " lots" : "") + stops_text);
      if(s.type == "CLOSE_BUY" || s.type == "CLOSE_SELL")
        {
         if(!m_auto_trading)
           {
            RubiConnectorReportReset(rep, "REJECTED", 0, "auto-trading is off in the EA's inputs (EnableAutoTrading=false): signal not executed");
            RecordOutcome(s.id, s, tag, at, rep);
            return;
           }
         if(Expired(s, rep))
           {
            RecordOutcome(s.id, s, tag, at, rep);
            return;
           }
         // The positions to close, by ticket, go into the "sending" record: a restart or an uncertain
         // answer is settled by what became of exactly these positions.
         long tickets[];
         CloseTickets(s, tickets);
         string tickets_json = TicketsJson(tickets);
         if(!m_journal.Put(s.id, JournalDoc(RUBI_JOURNAL_SENDING, s, tag, at, "", "", tickets_json)))
           {
            RubiConnectorReportReset(rep, "FAILED", 0, "the EA could not write its journal (" + m_journal.Error() + "): not executed");
            RecordOutcome(s.id, s, tag, at, rep);
            return;
           }
         string note = "";
         ExecuteClose(s, tickets, rep, note);
         if(note != "")
           {
            // A close answered with a timeout or a lost connection: it may have gone through. The record
            // stays "sending" and is settled from the terminal once connected, after the grace period.
            RubiLogWarn("signal " + s.id + ": outcome uncertain (" + note + "): settled from the terminal in " + IntegerToString(m_grace_s) +
                        " s once connected, never sent again");
            if(!m_journal.Put(s.id, JournalDoc(RUBI_JOURNAL_SENDING, s, tag, at, "", note, tickets_json)))
               RubiLogError("journal: " + m_journal.Error());
            return;
           }
         if(rep.status == "EXECUTED")
            m_orders_executed++;
         RecordOutcome(s.id, s, tag, at, rep);
         return;
        }
      if(s.type != "BUY" && s.type != "SELL")
        {
         RubiConnectorReportReset(rep, "FAILED", 0, "unknown signal type " + s.type);
         RecordOutcome(s.id, s, tag, at, rep);
         return;
        }
      // A lost or reset journal: the order may already be in the terminal. Never send it twice. Any
      // magic: the journal is per MagicNumber, so a restart with another one starts an empty journal,
      // and the tag alone names the signal.
      RubiDeal deals[];
      int n = TermHistoryDeals((datetime)((long)at - RUBI_CONNECTOR_LOOKBACK), (datetime)((long)at + 86400), deals);
      RubiPosition open[];
      TermPositions(open);
      int d = n > 0 ? RubiFindDeal(deals, -1, tag, 0) : -1;
      int p = RubiFindPosition(open, -1, tag);
      if(d >= 0 || p >= 0)
        {
         RubiConnectorReportReset(rep, "EXECUTED", TermPlatform() == "MT5" ? 10009 : 0, "an order with comment " + tag + " is already in the terminal: not sent again");
         rep.order_ticket = d >= 0 ? (deals[d].order > 0 ? deals[d].order : deals[d].position_id) : open[p].ticket;
         rep.price = d >= 0 ? deals[d].price : open[p].open_price;
         rep.volume = d >= 0 ? deals[d].volume : open[p].volume;
         rep.executed_at = UtcOfServerTime(d >= 0 ? deals[d].time : open[p].open_time);
         RecordOutcome(s.id, s, tag, at, rep);
         return;
        }
      if(Expired(s, rep))
        {
         RecordOutcome(s.id, s, tag, at, rep);
         return;
        }
      RubiSymbolSpec spec;
      double volume = 0;
      if(!CheckOpen(s, spec, volume, rep))
        {
         RecordOutcome(s.id, s, tag, at, rep);
         return;
        }
      if(volume != s.volume)
         RubiLogInfo("signal " + s.id + ": volume " + RubiNumber(s.volume) + " normalised to " + RubiNumber(volume) + " lots (step " + RubiNumber(spec.volume_step) + ")");
      RubiOrderRequest req;
      req.symbol = s.symbol;
      req.side = s.type == "BUY" ? RUBI_BUY : RUBI_SELL;
      req.volume = volume;
      req.sl = s.stop_loss;
      req.tp = s.take_profit;
      req.deviation = m_slippage;
      req.magic = m_magic;
      req.comment = tag;
      req.filling = RubiFillingFor(spec.filling_flags);
      // The durable promise: from here on, a restart settles this signal from the terminal's history.
      if(!m_journal.Put(s.id, JournalDoc(RUBI_JOURNAL_SENDING, s, tag, at, "", "", "")))
        {
         RubiConnectorReportReset(rep, "FAILED", 0, "the EA could not write its journal (" + m_journal.Error() + "): order not sent");
         RecordOutcome(s.id, s, tag, at, rep);
         return;
        }
      RubiOrderResult res;
      bool ok = TermMarketOrder(req, res);
      if(!ok && (res.retcode == 10012 || res.retcode == 10031))
        {
         // A timeout or a lost connection: the order may have filled all the same. The record stays
         // "sending" and is settled from the terminal's history after the grace period.
         string note = RubiRetcodeText(res.retcode);
         RubiLogWarn("signal " + s.id + ": outcome uncertain (" + note + "): settled from the terminal's history in " + IntegerToString(m_grace_s) + " s, never sent again");
         if(!m_journal.Put(s.id, JournalDoc(RUBI_JOURNAL_SENDING, s, tag, at, "", note, "")))
            RubiLogError("journal: " + m_journal.Error());
         return;
        }
      if(ok)
        {
         m_orders_executed++;
         RubiConnectorReportReset(rep, "EXECUTED", res.retcode, res.retcode != 0 ? RubiRetcodeText(res.retcode) : "order filled");
         rep.order_ticket = res.order > 0 ? res.order : res.position;
         rep.price = res.price;
         rep.volume = res.volume > 0 ? res.volume : volume;
         rep.executed_at = UtcOfServerTime(res.time);
        }
      else
        {
         string text = res.retcode != 0 ? RubiRetcodeText(res.retcode) : "the order could not be sent";
         if(res.message != "")
            text += " (" + res.message + ")";
         RubiConnectorReportReset(rep, res.retcode != 0 ? "REJECTED" : "FAILED", res.retcode, text);
        }
      RecordOutcome(s.id, s, tag, at, rep);
     }

   bool              ParseSignal(const RubiJson &j, const int node, RubiConnectorSignal &s) const
     {
      s.id = j.GetStr(node, "id", "");
      s.type = j.GetStr(node, "type", "");
      s.symbol = j.GetStr(node, "symbol", "");
      s.volume = j.GetNum(node, "volume", 0);
      s.stop_loss = j.GetNum(node, "stop_loss", 0);
      s.take_profit = j.GetNum(node, "take_profit", 0);
      s.entry_price = j.GetNum(node, "entry_price", 0);
      s.risk_percent = j.GetNum(node, "risk_percent", 0);
      s.expires_at = 0;
      datetime expires = 0;
      if(RubiIsoParse(j.GetStr(node, "expires_at", ""), expires))
         s.expires_at = expires;
      return s.id != "" && s.type != "";
     }

   // A signal delivered before its expiry but seen here only after it (the backend redelivers a
   // DELIVERED signal until it is reported, e.g. after a lost response and a long outage): not
   // executed, reported REJECTED. Returns true (and fills `rep`) when it has expired.
   bool              Expired(const RubiConnectorSignal &s, RubiConnectorReport &rep) const
     {
      if(s.expires_at <= 0 || m_poll_utc <= 0 || m_poll_utc < s.expires_at)
         return false;
      RubiConnectorReportReset(rep, "REJECTED", 0, "the signal expired at " + RubiIsoTime(s.expires_at) + " UTC before it was executed (backend time " +
                               RubiIsoTime(m_poll_utc) + " UTC): not executed");
      return true;
     }

   // GET /signals/pending, then each signal once: a journaled one gets its kept report (or is
   // settled first when it was being sent), a new one is executed.
   void              Poll()
     {
      RubiHttpResponse r;
      if(!Call("GET", "/signals/pending?session_id=" + m_session, "", r))
         return;
      RubiJson j;
      if(!j.Parse(r.body))
        {
         Problem("GET /signals/pending: unreadable answer (" + j.Error() + ")");
         return;
        }
      // The backend's clock decides expiry (this computer's clock may be off); its own otherwise.
      datetime server_utc = 0;
      m_poll_utc = RubiIsoParse(j.GetStr(j.Root(), "server_time", ""), server_utc) ? server_utc : RubiSigningTime();
      int arr = j.Key(j.Root(), "signals");
      for(int node = j.First(arr); node >= 0; node = j.Next(node))
        {
         RubiConnectorSignal s;
         if(!ParseSignal(j, node, s))
            continue;
         string state = m_journal.StateOf(s.id);
         if(state == RUBI_JOURNAL_REPORTED)
            continue;
         if(state == RUBI_JOURNAL_SENDING)
           {
            Recover();
            if(m_journal.StateOf(s.id) == RUBI_JOURNAL_SENDING)
               continue;  // still settling (grace period)
           }
         if(m_journal.StateOf(s.id) == "")
            Execute(s);
         Report(s.id);
         if(TermIsStopped())
            return;
        }
     }

   //--- positions -----------------------------------------------------------------------------------
   string            PositionsShape(const RubiPosition &positions[]) const
     {
      string shape = "";
      for(int i = 0; i < ArraySize(positions); i++)
         shape += IntegerToString(positions[i].ticket) + ":" + RubiNumber(positions[i].volume) + ":" + RubiNumber(positions[i].sl) + ":" +
                  RubiNumber(positions[i].tp) + ";";
      return shape;
     }

public:
                     RubiConnector()
     {
      m_session = "";
      m_ping_interval_s = 10;
      m_last_pushed = "";
      m_pushed_once = false;
      m_signals_received = 0;
      m_orders_executed = 0;
      m_errors = 0;
      m_last_problem = "";
      m_warned_symbols = "";
      m_journal_ok = false;
      m_magic = 0;
      m_slippage = 20;
      m_grace_s = 30;
      m_auto_trading = true;
      m_max_risk_percent = 0;
      m_max_open_positions = 0;
      m_poll_utc = 0;
     }

   string            SessionId() const { return m_session; }
   int               SignalsReceived() const { return m_signals_received; }
   int               OrdersExecuted() const { return m_orders_executed; }
   int               Errors() const { return m_errors; }
   int               PingIntervalSeconds() const { return m_ping_interval_s; }
   string            JournalStateOf(const string signal_id) const { return m_journal.StateOf(signal_id); }
   int               JournalUnsettled() const { return m_journal.Unsettled(); }

   // Copies the configuration and opens the journal. False when the journal cannot be read/repaired.
   bool              Init(const RubiConnectorConfig &c)
     {
      m_url = RubiTrim(c.backend_url);
      while(RubiEndsWith(m_url, "/"))
         m_url = StringSubstr(m_url, 0, StringLen(m_url) - 1);
      m_key_id = RubiTrim(c.key_id);
      m_secret = RubiTrim(c.secret);
      m_auto_trading = c.auto_trading;
      m_max_risk_percent = c.max_risk_percent;
      m_max_open_positions = c.max_open_positions;
      m_magic = c.magic;
      m_slippage = c.slippage_points;
      m_grace_s = c.reconcile_grace_s;
      m_ea_version = c.ea_version;
      m_http.timeout_ms = 5000;
      m_http.max_attempts = 3;
      string parts[];
      int n = StringSplit(c.symbols, ',', parts);
      ArrayResize(m_symbols, 0);
      for(int i = 0; i < n; i++)
        {
         string sym = RubiTrim(parts[i]);
         bool dup = sym == "";
         for(int k = 0; k < ArraySize(m_symbols) && !dup; k++)
            dup = m_symbols[k] == sym;
         if(dup)
            continue;
         int m = ArraySize(m_symbols);
         ArrayResize(m_symbols, m + 1);
         m_symbols[m] = sym;
        }
      string file = c.journal_file != "" ? c.journal_file : "Rubi\\connector-" + IntegerToString(c.magic) + ".journal";
      m_journal_ok = m_journal.Open(file);
      if(m_journal.Dropped() > 0)
         RubiLogWarn("journal " + file + ": " + IntegerToString(m_journal.Dropped()) + " damaged line(s) dropped (a crash while writing)");
      if(!m_journal_ok)
         RubiLogError("journal " + file + ": " + m_journal.Error());
      else
         if(m_journal.Unsettled() > 0)
            RubiLogInfo("journal " + file + ": " + IntegerToString(m_journal.Unsettled()) + " signal(s) not yet reported from the last run");
      return m_journal_ok;
     }

   // POST /connect. True when a session is open.
   bool              Connect()
     {
      RubiAccount a;
      if(!TermAccount(a))
        {
         Problem("connect: the terminal is not logged in to a trading account yet");
         return false;
        }
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyInt("account_number", a.login);
      w.KeyStr("broker", a.broker != "" ? a.broker : a.server);
      w.KeyStr("server", a.server);
      w.KeyStr("currency", a.currency);
      w.KeyInt("leverage", a.leverage > 0 ? a.leverage : 1);
      WriteMoney(w, "balance", a.balance);
      WriteMoney(w, "equity", a.equity);
      WriteMoney(w, "margin", a.margin);
      WriteMoney(w, "margin_free", a.margin_free);
      w.KeyStr("ea_version", m_ea_version);
      w.KeyInt("terminal_build", TermBuild());
      w.Key("symbols");
      w.BeginArray();
      for(int i = 0; i < ArraySize(m_symbols); i++)
        {
         RubiSymbolSpec spec;
         if(!TermSymbolSpec(m_symbols[i], spec) || !(spec.tick_value > 0) || !(spec.contract_size > 0) || !(spec.volume_min > 0) || spec.volume_max < spec.volume_min)
           {
            if(StringFind(m_warned_symbols, "|" + m_symbols[i] + "|") < 0)
               RubiLogWarn("connect: symbol " + m_symbols[i] + " is unknown here or has no complete specification yet (check its name at this broker, open it in Market Watch): not sent, risk-sized signals on it will be refused");
            m_warned_symbols += "|" + m_symbols[i] + "|";
            continue;
           }
         w.BeginObject();
         w.KeyStr("symbol", spec.symbol);
         w.KeyNum("tick_size", spec.tick_size);
         w.KeyNum("tick_value", spec.tick_value);
         w.KeyNum("contract_size", spec.contract_size);
         w.KeyNum("volume_min", spec.volume_min);
         w.KeyNum("volume_max", spec.volume_max);
         w.KeyNum("volume_step", spec.volume_step);
         w.KeyInt("digits", spec.digits);
         w.EndObject();
        }
      w.EndArray();
      w.EndObject();
      RubiHttpResponse r;
      if(!Call("POST", "/connect", w.Text(), r))
        {
         if(r.status == 404 || r.status == 409)
            Problem("POST /connect: " + ErrorOf(r));
         return false;
        }
      RubiJson j;
      if(!j.Parse(r.body) || j.GetStr(j.Root(), "session_id", "") == "")
        {
         Problem("POST /connect: unreadable answer");
         return false;
        }
      int root = j.Root();
      m_session = j.GetStr(root, "session_id", "");
      m_ping_interval_s = (int)j.GetLong(root, "ping_interval_seconds", 10);
      m_last_pushed = "";
      m_pushed_once = false;
      int risk = j.Key(root, "risk");
      RubiLogInfo("connected: session " + m_session + (j.GetBool(root, "resumed", false) ? " (resumed)" : " (new)") + ", account " + IntegerToString(a.login) + " on " + a.server +
                  ", backend risk limits: " + IntegerToString(j.GetLong(risk, "max_open_positions", 0)) + " open positions, " + RubiNumber(j.GetNum(risk, "max_risk_percent", 0)) + "% risk");
      return true;
     }

   // Connect, settle the journal, resend kept reports, push the positions.
   bool              Start()
     {
      Recover();
      if(!Connect())
         return false;
      FlushReports();
      PushPositions(true);
      return true;
     }

   // POST /ping. Returns pending_signals, -1 on failure; `status` the HTTP status.
   int               Ping(int &status)
     {
      RubiAccount a;
      status = -1;
      if(!TermAccount(a))
         return -1;
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyStr("session_id", m_session);
      WriteMoney(w, "balance", a.balance);
      WriteMoney(w, "equity", a.equity);
      WriteMoney(w, "margin", a.margin);
      WriteMoney(w, "margin_free", a.margin_free);
      if(a.margin_level > 0)
         WriteMoney(w, "margin_level", a.margin_level);
      else
         w.KeyNull("margin_level");
      WriteMoney(w, "profit", a.profit);
      w.EndObject();
      RubiHttpResponse r;
      bool ok = Call("POST", "/ping", w.Text(), r);
      status = r.status;
      if(!ok)
         return -1;
      RubiJson j;
      if(!j.Parse(r.body))
         return -1;
      m_ping_interval_s = (int)j.GetLong(j.Root(), "ping_interval_seconds", m_ping_interval_s);
      return (int)j.GetLong(j.Root(), "pending_signals", 0);
     }

   // POST /positions/update with every open position when the list changed (or `force`).
   bool              PushPositions(const bool force)
     {
      if(m_session == "")
         return false;
      RubiPosition positions[];
      int n = TermPositions(positions);
      if(n < 0)
         return false;
      string shape = PositionsShape(positions);
      if(!force && m_pushed_once && shape == m_last_pushed)
         return true;
      if(n > RUBI_MAX_POSITIONS_PUSH)
        {
         RubiLogWarn("positions: " + IntegerToString(n) + " open, only the first " + IntegerToString(RUBI_MAX_POSITIONS_PUSH) + " are sent");
         n = RUBI_MAX_POSITIONS_PUSH;
        }
      int offset = ServerOffset();
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyStr("session_id", m_session);
      w.Key("positions");
      w.BeginArray();
      for(int i = 0; i < n; i++)
        {
         w.BeginObject();
         w.KeyInt("ticket", positions[i].ticket);
         w.KeyStr("symbol", positions[i].symbol);
         w.KeyStr("type", positions[i].side == RUBI_BUY ? "BUY" : "SELL");
         w.KeyNum("volume", positions[i].volume);
         w.KeyNum("open_price", positions[i].open_price);
         if(positions[i].current_price > 0)
            w.KeyNum("current_price", positions[i].current_price);
         else
            w.KeyNull("current_price");
         w.KeyNum("stop_loss", positions[i].sl);
         w.KeyNum("take_profit", positions[i].tp);
         WriteMoney(w, "profit", positions[i].profit);
         WriteMoney(w, "swap", positions[i].swap);
         WriteMoney(w, "commission", positions[i].commission);
         if(positions[i].magic >= 0)
            w.KeyInt("magic", positions[i].magic);
         if(positions[i].comment != "")
            w.KeyStr("comment", positions[i].comment);
         else
            w.KeyNull("comment");
         w.KeyStr("opened_at", RubiIsoTime((datetime)((long)positions[i].open_time - offset)));
         w.EndObject();
        }
      w.EndArray();
      w.EndObject();
      RubiHttpResponse r;
      if(!Call("POST", "/positions/update", w.Text(), r))
         return false;
      m_last_pushed = shape;
      m_pushed_once = true;
      RubiJson j;
      if(j.Parse(r.body))
         RubiLogInfo("positions pushed: " + IntegerToString(j.GetLong(j.Root(), "open", 0)) + " open, " + IntegerToString(j.GetLong(j.Root(), "closed", 0)) + " closed by this update");
      return true;
     }

   // One timer tick: ping (reconnect when the session is gone), settle and resend what the journal
   // owes, poll and execute when signals wait, push positions when they changed.
   void              Tick()
     {
      if(m_session == "")
        {
         if(!Connect())
            return;
         PushPositions(true);
        }
      int status = -1;
      int pending = Ping(status);
      if(pending < 0 && (status == 404 || status == 409))
        {
         RubiLogWarn("session " + m_session + " is no longer open on the backend (HTTP " + IntegerToString(status) + "): reconnecting");
         m_session = "";
         if(!Connect())
            return;
         PushPositions(true);
         pending = Ping(status);
        }
      if(pending < 0)
         return;
      Recover();
      FlushReports();
      if(pending > 0 || m_journal.Unsettled() > 0)
         Poll();
      PushPositions(false);
     }

   // POST /connect/disconnect with the counters (OnDeinit).
   bool              Disconnect(const int reason)
     {
      if(m_session == "")
         return false;
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyStr("session_id", m_session);
      w.KeyInt("signals_received", m_signals_received);
      w.KeyInt("orders_executed", m_orders_executed);
      w.KeyInt("errors", m_errors);
      w.EndObject();
      RubiHttpOptions once;
      once.max_attempts = 1;
      once.timeout_ms = 3000;
      once.idempotent = false;  // a second disconnect is a 409: a replayed id after a lost answer means it was applied
      RubiHttpResponse r;
      bool ok = RubiHttpSigned("POST", m_url + "/connect/disconnect", w.Text(), RUBI_HEADER_KEY_ID, m_key_id, m_secret, once, r) || r.applied_earlier;
      RubiLogInfo("disconnect (" + RubiDeinitReasonText(reason) + "): session " + m_session + (ok ? " closed" : " not closed (" + ErrorOf(r) + "): the backend marks it stale") +
                  "; signals received " + IntegerToString(m_signals_received) + ", orders executed " + IntegerToString(m_orders_executed) + ", errors " + IntegerToString(m_errors));
      m_session = "";
      return ok;
     }
  };

#endif

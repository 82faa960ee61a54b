//+------------------------------------------------------------------+
//| Rubi/TradeSync.mqh: the provisioned EA (RubiTradeSync.mq5 / .mq4): all of its logic (MQL4/MQL5). |
//|                                                                                                  |
//| The protocol is packages/ea-sim/src/provisioned-ea.ts:                                           |
//|   start    read Files/rendr_ea_config.ini (the VPS agent writes it); without a stored api secret |
//|            POST register_url {external_account_id, login, server, platform, terminal_build,     |
//|            provisioning_token} -> api_secret, poll_interval_seconds, max_trades_per_batch; the   |
//|            secret goes into Files/RubiTradeSync/state.ini; "registered ..." is printed (the     |
//|            agent reads the EA log for it)                                                        |
//|   cycle    every poll_interval_seconds: newly closed trades -> the outbox; then POST trades_url |
//|            {"trades":[...]} in batches of at most max_trades_per_batch, signed (X-Account-Id +  |
//|            Standard Webhooks); an empty batch when nothing waits (it keeps the account          |
//|            connected). A trade leaves the outbox when a response lists its ticket as accepted   |
//|            or duplicate: a lost response is simply sent again, the server stores a ticket once. |
//|   400      naming body.trades.<i>: those trades are set aside (set-aside.outbox, logged)         |
//|   401      the secret no longer verifies (unknown account, signature does not match; at       |
//|            register: the token is spent/expired): stop. Not a 401 for the timestamp: Http.mqh   |
//|            sets the clock from the response's Date header and signs again; one left (no Date   |
//|            header) or a replayed-id 401 keeps the trades for the next cycle                     |
//|   5xx/none retried by Rubi/Http.mqh (backoff, same X-Trade-Id), then kept for the next cycle    |
//|                                                                                                  |
//| Trade mapping (RubiTradeFromDeals, the same for MT5 deals and MT4's IN+OUT pairs):               |
//|   ticket   MT5: the position id (DEAL_POSITION_ID); MT4: OrderTicket() of a closed OP_BUY/       |
//|            OP_SELL order (balance/credit rows and cancelled pending orders are never trades)    |
//|   when     once the position is fully closed (no open position with that id): one trade per    |
//|            position, however many partial closes it had; a ticket never changes meaning        |
//|   lots     the volume closed over the position's life (partial closes summed; a netting        |
//|            reversal (IN/OUT deal) counts the volume it closed)                                   |
//|   type     BUY/SELL: the direction the position was opened in                                    |
//|   prices   volume-weighted: open over the opening volume, close over the closing volume         |
//|   times    open: the first opening deal, close: the last closing deal, trade server time        |
//|            converted to UTC with the server's current offset (RubiServerOffset)                 |
//|   money    commission + fee, swap, profit: summed over the position's deals                     |
//|   magic    of the first opening deal (omitted when negative); comment of it (omitted if empty)  |
//|                                                                                                  |
//| What was already queued (the watermark, durable in state.ini): `watermark` = the newest close   |
//| time queued (server time) and `recent` = the tickets queued whose close time is within the      |
//| rescan window (RescanHours) below it. Each cycle reads history from watermark - window and      |
//| queues closed positions not in `recent`, oldest close first, at most 10 batches' worth: a       |
//| restart neither loses (the outbox is appended before the state is saved) nor floods (the        |
//| window is bounded); history that shows up later than the window is not picked up.               |
//| Backfill: the first scan starts where the account was registered on the dashboard (the register |
//| response's registered_at, UTC, kept in state.ini as registered_at; converted to trade server    |
//| time at the first Collect that knows the server's offset): trades from before the trader        |
//| registered the account are not reported. An operator may set BackfillFrom (trade server time)  |
//| or BackfillDays (> 0: that many days before the EA registers) instead; a backend that does not  |
//| send registered_at: from the moment of registering. Proceeds 10 batches per cycle.              |
//|                                                                                                  |
//| Ownership proof (issue #15): the dashboard shows the trader an ownership code, RUBI- and 8       |
//| Crockford base32 characters; the trader places a pending order with it as the comment (and may  |
//| delete it at once): only someone who can trade on the account can, not the investor login this  |
//| EA runs with. Each cycle, until the backend answers "ownership":"verified", the EA reads the    |
//| comments of the pending orders open now and of the history orders since registered_at          |
//| (TermOrderComments; at most RUBI_TS_OWNERSHIP_DAYS back, later cycles only the rescan window     |
//| before the previous scan), extracts every RUBI-XXXXXXXX anywhere in them (case-insensitive, sent |
//| upper-cased, deduplicated, the first RUBI_TS_OWNERSHIP_MAX) and sends them as `ownership_codes`  |
//| in each trades request of the cycle. The answer's `ownership` (verified / unverified /           |
//| owned_elsewhere) is kept in state.ini: verified stops the scans, also after a restart; a new     |
//| registration (a new token) starts over. A backend that refuses the field (HTTP 400 naming        |
//| ownership_codes: older than the proof) gets the trades without it for the rest of the run.       |
//|                                                                                                  |
//| The report on the terminal (account health, issue #16), in every trades request:                |
//|   broker_connected      TermConnected() (MT5 TERMINAL_CONNECTED, MT4 IsConnected()) when sent. A |
//|                         terminal that is not connected reads no history (Collect waits) but     |
//|                         still sends its (empty) batch, so the backend learns it                  |
//|   backfill_complete     once a Collect of this run has read the history (nothing reported        |
//|                         before): true when the last read queued everything it found (the        |
//|                         backfill from registered_at and every later close are in the outbox) and |
//|                         this request empties the outbox; false while something waits            |
//|   history_synced_until  with backfill_complete true: the UTC instant of that read (trade server  |
//|                         time - offset): every trade closed before it is in this request or sent  |
//| A backend that refuses the fields (HTTP 400 naming one: older than the report) gets the trades   |
//| without them for the rest of the run.                                                            |
//+------------------------------------------------------------------+
#ifndef RUBI_TRADESYNC_MQH
#define RUBI_TRADESYNC_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Json.mqh>
#include <Rubi/Files.mqh>
#include <Rubi/Ini.mqh>
#include <Rubi/Log.mqh>
#include <Rubi/Http.mqh>
#include <Rubi/Outbox.mqh>
#include <Rubi/Webhooks.mqh>
#include <Rubi/Terminal.mqh>
#include <Rubi/Trade.mqh>

#define RUBI_TS_STATE_FILE      "RubiTradeSync\\state.ini"
#define RUBI_TS_OUTBOX_FILE     "RubiTradeSync\\trades.outbox"
#define RUBI_TS_SET_ASIDE_FILE  "RubiTradeSync\\set-aside.outbox"
#define RUBI_TS_STATE_SECTION   "state"
#define RUBI_TS_TIMER_SECONDS   5         // OnTimer granularity; a cycle runs every poll interval
#define RUBI_TS_DEFAULT_POLL    60
#define RUBI_TS_DEFAULT_BATCH   500
#define RUBI_TS_BATCHES_PER_CYCLE 10      // bounded work per cycle (backfill included)
#define RUBI_TS_OUTBOX_MAX      20000
#define RUBI_TS_RECENT_MAX      20000
#define RUBI_TS_MAX_OFFSET      50400     // |server - UTC| beyond 14 h is not a time zone
#define RUBI_TS_EPS             0.000000001
#define RUBI_TS_OWNERSHIP_MAX   10        // ownership codes per request (the contract's limit)
#define RUBI_TS_OWNERSHIP_DAYS  30        // the first scan of a run reads at most this far back
#define RUBI_TS_CODE_PREFIX     "RUBI-"
#define RUBI_TS_CODE_CHARS      8

//+------------------------------------------------------------------+
//| Trade mapping (pure)                                             |
//+------------------------------------------------------------------+
struct RubiSyncTrade
  {
   long              ticket;
   string            symbol;
   int               type;          // RUBI_BUY / RUBI_SELL
   double            lots;
   datetime          open_time;     // trade server time
   datetime          close_time;    // trade server time
   double            open_price;
   double            close_price;
   double            commission;    // commission + fee
   double            swap;
   double            profit;
   long              magic;
   string            comment;
   double            open_left;     // volume still open according to the deals (0 when complete)
  };

double RubiRound8(const double v) { return MathRound(v * 100000000.0) / 100000000.0; }

// Builds the trade of one position from its deals (any order; non-trade deals ignored). False when
// the deals close no volume (e.g. only the opening deal is known).
bool RubiTradeFromDeals(const RubiDeal &deals[], RubiSyncTrade &t)
  {
   int n = ArraySize(deals);
   int order[];
   ArrayResize(order, n);
   int m = 0;
   for(int i = 0; i < n; i++)
     {
      if(deals[i].type == RUBI_DEAL_OTHER || deals[i].volume <= 0)
         continue;
      // insertion sort by (time, ticket, entry): IN before OUT of MT4's pair with one ticket
      int j = m;
      while(j > 0)
        {
         int p = order[j - 1];
         bool after = deals[p].time > deals[i].time ||
                      (deals[p].time == deals[i].time && (deals[p].ticket > deals[i].ticket ||
                            (deals[p].ticket == deals[i].ticket && deals[p].entry > deals[i].entry)));
         if(!after)
            break;
         order[j] = p;
         j--;
        }
      order[j] = i;
      m++;
     }
   t.ticket = 0;
   t.symbol = "";
   t.type = -1;
   t.lots = 0;
   t.open_time = 0;
   t.close_time = 0;
   t.open_price = 0;
   t.close_price = 0;
   t.commission = 0;
   t.swap = 0;
   t.profit = 0;
   t.magic = 0;
   t.comment = "";
   t.open_left = 0;
   double net = 0;
   double open_volume = 0;
   double open_value = 0;
   double close_volume = 0;
   double close_value = 0;
   for(int k = 0; k < m; k++)
     {
      int i = order[k];
      double signed_volume = deals[i].type == RUBI_DEAL_BUY ? deals[i].volume : -deals[i].volume;
      double closing = 0;
      if(net > RUBI_TS_EPS && signed_volume < 0)
         closing = MathMin(-signed_volume, net);
      if(net < -RUBI_TS_EPS && signed_volume > 0)
         closing = MathMin(signed_volume, -net);
      double opening = deals[i].volume - closing;
      if(closing > RUBI_TS_EPS)
        {
         close_volume += closing;
         close_value += closing * deals[i].price;
         t.close_time = deals[i].time;
        }
      if(opening > RUBI_TS_EPS)
        {
         if(t.type < 0)
           {
            t.type = signed_volume > 0 ? RUBI_BUY : RUBI_SELL;
            t.open_time = deals[i].time;
            t.magic = deals[i].magic;
            t.comment = deals[i].comment;
            t.symbol = deals[i].symbol;
            t.ticket = deals[i].position_id;
           }
         open_volume += opening;
         open_value += opening * deals[i].price;
        }
      net = RubiRound8(net + signed_volume);
      t.commission += deals[i].commission + deals[i].fee;
      t.swap += deals[i].swap;
      t.profit += deals[i].profit;
     }
   t.lots = RubiRound8(close_volume);
   t.open_left = MathAbs(net);
   if(t.type < 0 || t.lots <= 0)
      return false;
   t.open_price = open_value / open_volume;
   t.close_price = close_value / close_volume;
   t.commission = RubiRound8(t.commission);
   t.swap = RubiRound8(t.swap);
   t.profit = RubiRound8(t.profit);
   return true;
  }

// The trade as the contract's ClosedTradeInput (packages/contracts/src/trades.ts); times shifted
// from trade server time to UTC by `offset` seconds (UTC = server - offset).
string RubiSyncTradeJson(const RubiSyncTrade &t, const int offset)
  {
   RubiJsonWriter w;
   w.BeginObject();
   w.KeyInt("ticket", t.ticket);
   w.KeyStr("symbol", t.symbol);
   w.KeyStr("type", t.type == RUBI_BUY ? "BUY" : "SELL");
   w.KeyNumDigits("lots", t.lots, 8);
   w.KeyStr("open_time", RubiIsoTime(t.open_time - offset));
   w.KeyStr("close_time", RubiIsoTime(t.close_time - offset));
   w.KeyNumDigits("open_price", t.open_price, 8);
   w.KeyNumDigits("close_price", t.close_price, 8);
   w.KeyNumDigits("commission", t.commission, 8);
   w.KeyNumDigits("swap", t.swap, 8);
   w.KeyNumDigits("profit", t.profit, 8);
   if(t.magic >= 0 && t.magic <= 9007199254740991)
      w.KeyInt("magic", t.magic);
   if(t.comment != "")
      w.KeyStr("comment", StringLen(t.comment) > 255 ? StringSubstr(t.comment, 0, 255) : t.comment);
   w.EndObject();
   return w.Text();
  }

// What the contract would refuse in a trade the EA built ("" when none): such a trade is set aside
// locally instead of being sent.
string RubiSyncTradeProblem(const RubiSyncTrade &t)
  {
   if(t.ticket <= 0)
      return "no ticket";
   if(t.lots <= 0)
      return "no closed volume";
   if(t.open_price <= 0 || t.close_price <= 0)
      return "price 0";
   if(t.symbol == "")
      return "no symbol";
   if(t.close_time < t.open_time)
      return "closed before it opened";
   return "";
  }

void RubiDealCopy(RubiDeal &d, const RubiDeal &s)
  {
   d.ticket = s.ticket;
   d.order = s.order;
   d.position_id = s.position_id;
   d.time = s.time;
   d.type = s.type;
   d.entry = s.entry;
   d.symbol = s.symbol;
   d.volume = s.volume;
   d.price = s.price;
   d.commission = s.commission;
   d.swap = s.swap;
   d.profit = s.profit;
   d.fee = s.fee;
   d.magic = s.magic;
   d.comment = s.comment;
  }

// The index of `path`'s trade in "body.trades.<i>[.field]", -1 for any other path.
int RubiTradesPathIndex(const string path)
  {
   string prefix = "body.trades.";
   if(!RubiStartsWith(path, prefix))
      return -1;
   int len = StringLen(path);
   int start = StringLen(prefix);
   int i = start;
   while(i < len)
     {
      ushort c = StringGetCharacter(path, i);
      if(c < '0' || c > '9')
         break;
      i++;
     }
   if(i == start || i - start > 6 || (i < len && StringGetCharacter(path, i) != '.'))
      return -1;
   return (int)StringToInteger(StringSubstr(path, start, i - start));
  }

// A character of an ownership code after upper-casing: Crockford base32, [0-9A-HJKMNP-TV-Z].
bool RubiIsCodeChar(const ushort c)
  {
   if(c >= '0' && c <= '9')
      return true;
   if(c < 'A' || c > 'Z')
      return false;
   return c != 'I' && c != 'L' && c != 'O' && c != 'U';
  }

// Appends to codes[0..count) every ownership code in `comment` (RUBI-[0-9A-HJKMNP-TV-Z]{8} anywhere,
// case-insensitive, upper-cased) not already there, while fewer than `most`. Returns the new count.
int RubiOwnershipCodesIn(const string comment, string &codes[], const int count, const int most)
  {
   string text = comment;
   StringToUpper(text);
   int n = count;
   int len = StringLen(text);
   int prefix = StringLen(RUBI_TS_CODE_PREFIX);
   int at = StringFind(text, RUBI_TS_CODE_PREFIX, 0);
   while(at >= 0 && at + prefix + RUBI_TS_CODE_CHARS <= len)
     {
      bool ok = true;
      for(int i = 0; i < RUBI_TS_CODE_CHARS && ok; i++)
         ok = RubiIsCodeChar(StringGetCharacter(text, at + prefix + i));
      if(ok)
        {
         string code = StringSubstr(text, at, prefix + RUBI_TS_CODE_CHARS);
         bool known = false;
         for(int k = 0; k < n && !known; k++)
            known = codes[k] == code;
         if(!known)
           {
            if(n >= most)
               return n;
            ArrayResize(codes, n + 1, 16);
            codes[n] = code;
            n++;
           }
        }
      at = StringFind(text, RUBI_TS_CODE_PREFIX, at + 1);
     }
   return n;
  }

//+------------------------------------------------------------------+
//| The EA                                                           |
//+------------------------------------------------------------------+
struct RubiTradeSyncOptions
  {
   datetime          backfill_from;   // trade server time; 0: backfill_days
   int               backfill_days;   // > 0: that many days before registering; 0: from the account's registration (registered_at)
   int               poll_seconds;    // 0: the server's poll_interval_seconds
   int               batch_size;      // 0: the server's max_trades_per_batch (never more)
   int               rescan_hours;    // look-back window for late history, hours (0: 24)
   string            config_file;     // "" : rendr_ea_config.ini
                     RubiTradeSyncOptions()
     {
      backfill_from = 0;
      backfill_days = 0;
      poll_seconds = 0;
      batch_size = 0;
      rescan_hours = 24;
      config_file = "";
     }
  };

class RubiTradeSync
  {
private:
   RubiTradeSyncOptions m_opt;
   RubiEaConfig      m_config;
   string            m_secret;
   string            m_token_fp;
   string            m_registered_at;
   bool              m_need_register;
   bool              m_secret_confirmed;
   int               m_server_poll;
   int               m_server_batch;
   datetime          m_scan_from;
   datetime          m_watermark;
   datetime          m_cut;
   long              m_recent_tickets[];
   datetime          m_recent_times[];
   int               m_recent_count;
   int               m_offset;
   bool              m_offset_known;
   datetime          m_sample_server;
   datetime          m_sample_gmt;
   RubiOutbox        m_outbox;
   RubiOutbox        m_aside;
   bool              m_ready;
   bool              m_halted;
   bool              m_clock_checked;  // the first cycle of this run has sent (clock checked)
   datetime          m_last_cycle;
   string            m_last_problem;
   int               m_requests;
   string            m_ownership;        // the last `ownership` answer ("" none yet), kept in state.ini
   string            m_codes[];          // ownership codes found this run, sent until verified
   int               m_code_count;
   datetime          m_codes_scanned;    // trade server time of this run's last scan (0: none yet)
   bool              m_codes_refused;    // the backend refused the field (older than the proof)
   bool              m_codes_dropped;    // more than RUBI_TS_OWNERSHIP_MAX codes were found (logged once)
   int               m_history_state;    // this run's last Collect: 0 none yet, 1 left trades for later, 2 queued all it found
   datetime          m_synced_until;     // UTC instant of the last read that queued all it found (0: none this run)
   bool              m_report_refused;   // the backend refused the report's fields (older than the report)

   void              Problem(const string level, const string message)
     {
      if(message == m_last_problem)
         return;
      m_last_problem = message;
      RubiLogWrite(level, message);
     }
   void              Halt(const string message)
     {
      m_halted = true;
      RubiLogError(message);
     }
   string            TokenFingerprint(const string token) const
     {
      uchar bytes[];
      int n = RubiUtf8Encode(token, bytes);
      return RubiHex(RubiFnv1a(bytes, 0, n), 8);
     }
   int               RescanSeconds() const { return (m_opt.rescan_hours > 0 ? m_opt.rescan_hours : 24) * 3600; }

   //--- state file ----------------------------------------------------------------------------
   string            RecentText() const
     {
      string out = "";
      for(int i = 0; i < m_recent_count; i++)
         out += (i > 0 ? "," : "") + IntegerToString(m_recent_tickets[i]) + ":" + IntegerToString((long)m_recent_times[i]);
      return out;
     }
   void              RecentParse(const string text)
     {
      m_recent_count = 0;
      ArrayResize(m_recent_tickets, 0);
      ArrayResize(m_recent_times, 0);
      if(text == "")
         return;
      string items[];
      int n = StringSplit(text, ',', items);
      for(int i = 0; i < n; i++)
        {
         int colon = StringFind(items[i], ":");
         if(colon <= 0)
            continue;
         RecentAdd(StringToInteger(StringSubstr(items[i], 0, colon)), (datetime)StringToInteger(StringSubstr(items[i], colon + 1)));
        }
     }
   int               RecentIndex(const long ticket) const
     {
      for(int i = 0; i < m_recent_count; i++)
         if(m_recent_tickets[i] == ticket)
            return i;
      return -1;
     }
   void              RecentAdd(const long ticket, const datetime closed)
     {
      if(RecentIndex(ticket) >= 0)
         return;
      ArrayResize(m_recent_tickets, m_recent_count + 1, 256);
      ArrayResize(m_recent_times, m_recent_count + 1, 256);
      m_recent_tickets[m_recent_count] = ticket;
      m_recent_times[m_recent_count] = closed;
      m_recent_count++;
     }
   // Forgets tickets closed before the rescan window, and the oldest beyond RUBI_TS_RECENT_MAX
   // (then `cut` rises above them: nothing closed at or before it is queued again).
   void              RecentPrune()
     {
      datetime keep_from = m_watermark - RescanSeconds();
      int w = 0;
      for(int i = 0; i < m_recent_count; i++)
        {
         if(m_recent_times[i] < keep_from || m_recent_times[i] <= m_cut)
            continue;
         m_recent_tickets[w] = m_recent_tickets[i];
         m_recent_times[w] = m_recent_times[i];
         w++;
        }
      m_recent_count = w;
      while(m_recent_count > RUBI_TS_RECENT_MAX)
        {
         datetime oldest = m_recent_times[0];
         for(int i = 1; i < m_recent_count; i++)
            if(m_recent_times[i] < oldest)
               oldest = m_recent_times[i];
         m_cut = oldest;
         w = 0;
         for(int i = 0; i < m_recent_count; i++)
           {
            if(m_recent_times[i] <= m_cut)
               continue;
            m_recent_tickets[w] = m_recent_tickets[i];
            m_recent_times[w] = m_recent_times[i];
            w++;
           }
         m_recent_count = w;
        }
      ArrayResize(m_recent_tickets, m_recent_count);
      ArrayResize(m_recent_times, m_recent_count);
     }
   bool              SaveState()
     {
      string text = "; RubiTradeSync state for this terminal: holds the api secret of the account. Keep it private.\r\n" +
                    "; Deleting it makes the EA register again, which needs a fresh provisioning token.\r\n" +
                    "[" + RUBI_TS_STATE_SECTION + "]\r\n" +
                    "version=1\r\n" +
                    "external_account_id=" + m_config.external_account_id + "\r\n" +
                    "api_secret=" + m_secret + "\r\n" +
                    "token_fingerprint=" + m_token_fp + "\r\n" +
                    "registered_at=" + m_registered_at + "\r\n" +
                    "poll_interval_seconds=" + IntegerToString(m_server_poll) + "\r\n" +
                    "max_trades_per_batch=" + IntegerToString(m_server_batch) + "\r\n" +
                    "scan_from=" + IntegerToString((long)m_scan_from) + "\r\n" +
                    "watermark=" + IntegerToString((long)m_watermark) + "\r\n" +
                    "cut=" + IntegerToString((long)m_cut) + "\r\n" +
                    "server_offset=" + (m_offset_known ? IntegerToString(m_offset) : "") + "\r\n" +
                    "recent=" + RecentText() + "\r\n" +
                    "ownership=" + m_ownership + "\r\n";
      uchar bytes[];
      int n = RubiUtf8Encode(text, bytes);
      if(RubiFileWriteAtomic(RUBI_TS_STATE_FILE, bytes, n))
         return true;
      Problem("ERROR", "cannot write " + RubiFileLabel(RUBI_TS_STATE_FILE) + " in the terminal's Files folder (disk full or no permission?)");
      return false;
     }
   void              LoadState()
     {
      RubiIni ini;
      if(!ini.Load(RUBI_TS_STATE_FILE))
         return;
      string s = RUBI_TS_STATE_SECTION;
      string account = ini.Get(s, "external_account_id", "");
      if(account != m_config.external_account_id)
        {
         RubiLogWarn(RubiFileLabel(RUBI_TS_STATE_FILE) + " belongs to external account " + account + ", not " + m_config.external_account_id +
                     ": starting afresh with the token (its outbox is dropped)");
         FileDelete(RUBI_TS_OUTBOX_FILE);
         return;
        }
      m_secret = ini.Get(s, "api_secret", "");
      m_token_fp = ini.Get(s, "token_fingerprint", "");
      m_registered_at = ini.Get(s, "registered_at", "");
      m_server_poll = (int)StringToInteger(ini.Get(s, "poll_interval_seconds", "0"));
      m_server_batch = (int)StringToInteger(ini.Get(s, "max_trades_per_batch", "0"));
      m_scan_from = (datetime)StringToInteger(ini.Get(s, "scan_from", "0"));
      m_watermark = (datetime)StringToInteger(ini.Get(s, "watermark", "0"));
      m_cut = (datetime)StringToInteger(ini.Get(s, "cut", "0"));
      string offset = ini.Get(s, "server_offset", "");
      m_offset_known = offset != "";
      m_offset = m_offset_known ? (int)StringToInteger(offset) : 0;
      RecentParse(ini.Get(s, "recent", ""));
      m_ownership = ini.Get(s, "ownership", "");
     }

   //--- clock -----------------------------------------------------------------------------------
   // A clock sample confirms the server's UTC offset when the server clock moved since the previous
   // sample and both give the same offset (MT4's TimeCurrent() stands still without quotes, e.g.
   // at weekends: then the stored offset is kept). UTC is this computer's clock corrected by the
   // offset learnt from the backend (Webhooks.mqh), applied to both samples: a clock more than
   // 450 s off would otherwise round to the wrong quarter hour.
   void              SampleClock()
     {
      datetime server = TermTimeServer();
      datetime gmt = TermTimeGmt();
      long correction = RubiClockOffset();
      int now_offset = RubiServerOffset(server, (datetime)((long)gmt + correction));
      if(m_sample_server > 0 && server > m_sample_server && now_offset == RubiServerOffset(m_sample_server, (datetime)((long)m_sample_gmt + correction)) &&
         MathAbs(now_offset) <= RUBI_TS_MAX_OFFSET)
        {
         if(!m_offset_known || now_offset != m_offset)
           {
            if(m_offset_known)
               RubiLogInfo("the trade server's UTC offset changed from " + IntegerToString(m_offset) + " to " + IntegerToString(now_offset) + " s");
            m_offset = now_offset;
            m_offset_known = true;
            if(m_secret != "")
               SaveState();
           }
        }
      m_sample_server = server;
      m_sample_gmt = gmt;
     }

   //--- register --------------------------------------------------------------------------------
   string            ErrorText(const RubiHttpResponse &r) const
     {
      RubiJson j;
      if(!j.Parse(r.body))
         return "HTTP " + IntegerToString(r.status);
      int e = j.Key(j.Root(), "error");
      string text = "HTTP " + IntegerToString(r.status) + " " + j.GetStr(e, "code", "") + ": " + j.GetStr(e, "message", "");
      int details = j.Key(e, "details");
      int shown = 0;
      for(int d = j.First(details); d >= 0 && shown < 5; d = j.Next(d))
        {
         text += (shown == 0 ? " (" : "; ") + j.GetStr(d, "path", "") + ": " + j.GetStr(d, "message", "");
         shown++;
        }
      return shown > 0 ? text + ")" : text;
     }
   string            NoAnswer(const RubiHttpResponse &r) const
     {
      return r.status == -1 ? "no response (error " + IntegerToString(r.error) + ")" : ErrorText(r);
     }

public:
                     RubiTradeSync()
     {
      m_secret = "";
      m_token_fp = "";
      m_registered_at = "";
      m_need_register = true;
      m_secret_confirmed = false;
      m_server_poll = 0;
      m_server_batch = 0;
      m_scan_from = 0;
      m_watermark = 0;
      m_cut = 0;
      m_recent_count = 0;
      m_offset = 0;
      m_offset_known = false;
      m_sample_server = 0;
      m_sample_gmt = 0;
      m_ready = false;
      m_halted = false;
      m_clock_checked = false;
      m_last_cycle = 0;
      m_last_problem = "";
      m_requests = 0;
      m_ownership = "";
      m_code_count = 0;
      m_codes_scanned = 0;
      m_codes_refused = false;
      m_codes_dropped = false;
      m_history_state = 0;
      m_synced_until = 0;
      m_report_refused = false;
     }

   bool              Registered() const { return m_secret != "" && !m_need_register; }
   bool              Halted() const { return m_halted; }
   int               PollSeconds() const
     {
      if(m_opt.poll_seconds > 0)
         return m_opt.poll_seconds;
      return m_server_poll > 0 ? m_server_poll : RUBI_TS_DEFAULT_POLL;
     }
   int               BatchSize() const
     {
      int server = m_server_batch > 0 ? m_server_batch : RUBI_TS_DEFAULT_BATCH;
      return m_opt.batch_size > 0 && m_opt.batch_size < server ? m_opt.batch_size : server;
     }
   int               OutboxCount() const { return m_outbox.Count(); }
   int               SetAsideCount() const { return m_aside.Count(); }
   datetime          Watermark() const { return m_watermark; }
   datetime          ScanFrom() const { return m_scan_from; }
   int               RecentCount() const { return m_recent_count; }
   int               Requests() const { return m_requests; }
   bool              OffsetKnown() const { return m_offset_known; }
   int               Offset() const { return m_offset; }
   int               HistoryState() const { return m_history_state; }
   datetime          SyncedUntil() const { return m_synced_until; }
   string            OutboxKey(const int i) const { return m_outbox.KeyAt(i); }
   string            OutboxDoc(const int i) const { return m_outbox.DocAt(i); }
   string            SetAsideDoc(const int i) const { return m_aside.DocAt(i); }
   string            Ownership() const { return m_ownership; }
   int               CodeCount() const { return m_code_count; }
   string            Code(const int i) const { return m_codes[i]; }
   bool              Scanning() const { return m_ownership != "verified" && !m_codes_refused; }

   // Reads the order comments for ownership codes (see the header), unless verified. New codes are
   // logged and kept for the requests of this run. Returns how many codes are kept.
   int               ScanOwnership()
     {
      if(!Scanning() || m_registered_at == "")
         return m_code_count;
      datetime now = TermTimeServer();
      datetime registered = 0;
      datetime from = (datetime)((long)now - (long)RUBI_TS_OWNERSHIP_DAYS * 86400);
      // registered_at is UTC; in trade server time with the known offset, else with the widest one
      if(RubiIsoParse(m_registered_at, registered))
        {
         datetime start = m_offset_known ? registered + m_offset : registered - RUBI_TS_MAX_OFFSET;
         if(start > from)
            from = start;
        }
      if(m_codes_scanned > 0 && m_codes_scanned - RescanSeconds() > from)
         from = m_codes_scanned - RescanSeconds();
      string comments[];
      TermOrderComments(from, comments);  // -1 (history not readable): the open orders' comments still count
      m_codes_scanned = now;
      int before = m_code_count;
      int n = ArraySize(comments);
      for(int i = 0; i < n; i++)
        {
         // one more than the limit: a code beyond it is dropped (and said once)
         m_code_count = RubiOwnershipCodesIn(comments[i], m_codes, m_code_count, RUBI_TS_OWNERSHIP_MAX + 1);
         if(m_code_count > RUBI_TS_OWNERSHIP_MAX)
           {
            m_code_count = RUBI_TS_OWNERSHIP_MAX;
            ArrayResize(m_codes, m_code_count);
            if(!m_codes_dropped)
               RubiLogWarn("more than " + IntegerToString(RUBI_TS_OWNERSHIP_MAX) + " ownership codes in the order comments: sending the first " + IntegerToString(RUBI_TS_OWNERSHIP_MAX));
            m_codes_dropped = true;
           }
        }
      for(int k = before; k < m_code_count; k++)
         RubiLogInfo("ownership code " + m_codes[k] + " found in an order's comment: sent with the trades until the backend confirms the account's owner");
      return m_code_count;
     }

   // The answer's `ownership`: kept (state.ini) and logged when it changes; verified ends the scans.
   void              OwnershipAnswer(const string ownership)
     {
      if(ownership == "" || ownership == m_ownership)
         return;
      m_ownership = ownership;
      SaveState();
      if(ownership == "verified")
        {
         m_code_count = 0;
         ArrayResize(m_codes, 0);
         RubiLogInfo("ownership verified: this registration is the trading account's proven owner, cashback accrues; order comments are no longer read");
        }
      else
         if(ownership == "owned_elsewhere")
            RubiLogWarn("ownership: another registration of this trading account proved it owns it; this one earns no cashback (trades are still reported)");
         else
            RubiLogInfo("ownership " + ownership + ": cashback is withheld until the trader places a pending order with the dashboard's ownership code as its comment");
     }

   // Reads the config, the state and the outboxes. False (logged) when the EA cannot work at all.
   bool              Init(const RubiTradeSyncOptions &o)
     {
      m_opt.backfill_from = o.backfill_from;
      m_opt.backfill_days = o.backfill_days;
      m_opt.poll_seconds = o.poll_seconds;
      m_opt.batch_size = o.batch_size;
      m_opt.rescan_hours = o.rescan_hours;
      m_opt.config_file = o.config_file == "" ? RubiFileLabel(RUBI_EA_CONFIG_FILE) : o.config_file;
      RubiLogInit(RUBI_LOG_PROVISIONED, 0);
      m_clock_checked = false;
      string error = "";
      if(!RubiEaConfigLoad(m_opt.config_file, m_config, error))
        {
         RubiLogError(error + ": RubiTradeSync cannot start");
         return false;
        }
      LoadState();
      if(!m_outbox.Open(RUBI_TS_OUTBOX_FILE, RUBI_TS_OUTBOX_MAX) || !m_aside.Open(RUBI_TS_SET_ASIDE_FILE, RUBI_TS_OUTBOX_MAX))
        {
         RubiLogError("cannot open the outbox in the terminal's Files folder: " + m_outbox.Error() + m_aside.Error());
         return false;
        }
      if(m_outbox.Dropped() > 0)
         RubiLogWarn(IntegerToString(m_outbox.Dropped()) + " damaged line(s) dropped from " + RubiFileLabel(RUBI_TS_OUTBOX_FILE) +
                     " (a crash mid-write); those trades are read from the history again only if closed within the rescan window");
      m_need_register = m_secret == "" || m_token_fp != TokenFingerprint(m_config.provisioning_token);
      m_ready = true;
      SampleClock();
      RubiLogInfo("RubiTradeSync " + TermPlatform() + " build " + IntegerToString(TermBuild()) + " for external account " + m_config.external_account_id +
                  ": " + (m_secret == "" ? "will register with the provisioning token" : (m_need_register ? "a new provisioning token: will register again" : "api secret found in " + RubiFileLabel(RUBI_TS_STATE_FILE))) +
                  "; " + IntegerToString(m_outbox.Count()) + " trade(s) waiting in the outbox" +
                  (m_aside.Count() > 0 ? ", " + IntegerToString(m_aside.Count()) + " set aside" : ""));
      return true;
     }

   // POST register_url with the one-time token. True when an api secret is kept.
   bool              Register()
     {
      RubiAccount account;
      if(!TermAccount(account))
        {
         Problem("INFO", "waiting for the terminal to log in to its trade server before registering");
         return false;
        }
      RubiJsonWriter w;
      w.BeginObject();
      w.KeyStr("external_account_id", m_config.external_account_id);
      w.KeyInt("login", account.login);
      w.KeyStr("server", account.server);
      w.KeyStr("platform", TermPlatform());
      w.KeyInt("terminal_build", TermBuild());
      w.KeyStr("provisioning_token", m_config.provisioning_token);
      w.EndObject();
      RubiHttpOptions o;
      o.timeout_ms = 15000;
      RubiHttpResponse r;
      m_requests++;
      bool ok = RubiHttpJson("POST", m_config.register_url, w.Text(), o, r);
      bool had_secret = m_secret != "";
      if(!ok)
        {
         if(r.blocked)
            return false;  // Http.mqh printed the 4014 line the agent acts on
         if(r.status == 401 || r.status == 400 || r.status == 403 || r.status == 404)
           {
            string why = r.status == 401 ? "the provisioning token in " + m_opt.config_file + " is spent, expired or not this account's" +
                         (m_config.token_expires_at != "" ? " (it expires at " + m_config.token_expires_at + ")" : "") : ErrorText(r);
            if(had_secret)
              {
               // A new token that does not work: keep using the secret that does.
               m_need_register = false;
               m_token_fp = TokenFingerprint(m_config.provisioning_token);
               RubiLogWarn("register refused (HTTP " + IntegerToString(r.status) + "): " + why + "; keeping the stored api secret");
               return false;
              }
            Halt("register refused (HTTP " + IntegerToString(r.status) + "): " + why + ". No api secret is stored (" + RubiFileLabel(RUBI_TS_STATE_FILE) +
                 "), so RubiTradeSync stops. Fix: retry the account from the dashboard (or let the VPS agent provision it again): its new launch package writes a fresh token and restarts this terminal");
            return false;
           }
         Problem("WARN", "register: " + NoAnswer(r) + " from " + RubiUrlOrigin(m_config.register_url) + "; trying again in " + IntegerToString(PollSeconds()) + " s");
         return false;
        }
      RubiJson j;
      string secret = "";
      if(j.Parse(r.body))
         secret = j.GetStr(j.Root(), "api_secret", "");
      uchar key[];
      if(!RubiWebhookKey(secret, key))
        {
         Problem("ERROR", "register answered without a usable api secret (HTTP " + IntegerToString(r.status) + "); trying again in " + IntegerToString(PollSeconds()) + " s");
         return false;
        }
      int root = j.Root();
      m_secret = secret;
      m_token_fp = TokenFingerprint(m_config.provisioning_token);
      m_need_register = false;
      m_secret_confirmed = true;
      m_server_poll = (int)j.GetLong(root, "poll_interval_seconds", RUBI_TS_DEFAULT_POLL);
      m_server_batch = (int)j.GetLong(root, "max_trades_per_batch", RUBI_TS_DEFAULT_BATCH);
      // When the account was registered on the dashboard: the default backfill start. A backend
      // that does not say (older than registered_at): the moment of registering.
      datetime registered = 0;
      bool told = RubiIsoParse(j.GetStr(root, "registered_at", ""), registered);
      if(!told && !RubiIsoParse(j.GetStr(root, "server_time", ""), registered))
         registered = RubiSigningTime();
      m_registered_at = RubiIsoTime(registered);
      if(had_secret && m_ownership != "")
         RubiLogInfo("a new registration: its ownership is proven anew (order comments are read again)");
      m_ownership = "";  // a new registration has a new ownership code
      m_code_count = 0;
      ArrayResize(m_codes, 0);
      m_codes_scanned = 0;
      if(m_scan_from == 0)
        {
         // An operator's start; otherwise Collect sets it from registered_at once the offset is known.
         datetime now = TermTimeServer();
         if(m_opt.backfill_from > 0)
            m_scan_from = m_opt.backfill_from;
         else
            if(m_opt.backfill_days > 0)
               m_scan_from = (datetime)((long)now - (long)m_opt.backfill_days * 86400);
         if(m_scan_from > now)
            m_scan_from = now;
        }
      SaveState();
      m_last_problem = "";
      if(!told)
         RubiLogWarn("register answered without registered_at (an older backend): the default backfill starts at the moment of registering, " + m_registered_at + " UTC");
      RubiLogInfo("registered with the backend as external account " + m_config.external_account_id + " (status " + j.GetStr(root, "status", "?") +
                  "); trades every " + IntegerToString(PollSeconds()) + " s, at most " + IntegerToString(BatchSize()) + " per request; history from " +
                  (m_scan_from > 0 ? RubiIsoTime(m_scan_from) + " (trade server time)" : "the account's registration, " + m_registered_at + " UTC"));
      return true;
     }

   // The default backfill start (no BackfillFrom/BackfillDays): registered_at (UTC) in trade server
   // time, which needs the server's offset: set by the first Collect that knows it, then kept in the
   // state file. False before the EA registered (where the history starts is not known yet).
   bool              ResolveScanFrom()
     {
      if(m_scan_from > 0)
         return true;
      if(m_registered_at == "")
        {
         Problem("INFO", "waiting for the registration to learn where the account's history starts");
         return false;
        }
      datetime now = TermTimeServer();
      datetime registered = 0;
      if(RubiIsoParse(m_registered_at, registered))
         m_scan_from = registered + m_offset;
      else
        {
         RubiLogWarn("registered_at in " + RubiFileLabel(RUBI_TS_STATE_FILE) + " is not a time (\"" + m_registered_at + "\"): reading the history from now on");
         m_scan_from = now;
        }
      if(m_scan_from > now)
         m_scan_from = now;
      if(m_scan_from < 1)
         m_scan_from = 1;
      SaveState();
      RubiLogInfo("history from the account's registration, " + m_registered_at + " UTC (" + RubiIsoTime(m_scan_from) + " trade server time)");
      return true;
     }

   // Newly closed trades from the history into the outbox, oldest close first, at most `limit`
   // (0: RUBI_TS_BATCHES_PER_CYCLE batches). Returns how many were queued, -1 when the history or
   // the clock cannot be read yet.
   int               Collect(const int limit)
     {
      SampleClock();
      if(!m_offset_known)
        {
         Problem("INFO", "waiting for the trade server's clock (quotes) to convert trade times to UTC before reading the history");
         return -1;
        }
      if(!TermConnected())
        {
         Problem("INFO", "waiting for the terminal to reach its trade server before reading the history");
         return -1;
        }
      if(!ResolveScanFrom())
         return -1;
      int room = RUBI_TS_OUTBOX_MAX - m_outbox.Count();
      int most = limit > 0 ? limit : BatchSize() * RUBI_TS_BATCHES_PER_CYCLE;
      if(most > room)
         most = room;
      if(most <= 0)
        {
         m_history_state = 1;
         Problem("WARN", "the outbox holds " + IntegerToString(m_outbox.Count()) + " trades: reading no more history until they are delivered");
         return 0;
        }
      datetime since = m_scan_from;
      if(m_watermark > 0 && m_watermark - RescanSeconds() > since)
         since = m_watermark - RescanSeconds();
      if(m_cut > 0 && m_cut + 1 > since)
         since = m_cut + 1;
      RubiDeal deals[];
      datetime read_at = TermTimeServer() - m_offset;  // UTC: what closed before it is in this read
      int n = TermHistoryDeals(since, TermTimeServer() + 86400, deals);
      if(n < 0)
        {
         Problem("WARN", "the terminal's history could not be read; trying again in " + IntegerToString(PollSeconds()) + " s");
         return -1;
        }
      RubiPosition open_positions[];
      int open_count = TermPositions(open_positions);
      // candidates: positions with a closing deal, not open any more, not queued yet
      long ids[];
      datetime times[];
      int c = 0;
      for(int i = 0; i < n; i++)
        {
         if(deals[i].type == RUBI_DEAL_OTHER || deals[i].entry == RUBI_ENTRY_IN || deals[i].position_id <= 0)
            continue;
         long id = deals[i].position_id;
         bool skip = RecentIndex(id) >= 0;
         for(int p = 0; p < open_count && !skip; p++)
            skip = open_positions[p].ticket == id;
         if(skip)
            continue;
         int at = -1;
         for(int k = 0; k < c && at < 0; k++)
            if(ids[k] == id)
               at = k;
         if(at >= 0)
           {
            if(deals[i].time > times[at])
               times[at] = deals[i].time;
            continue;
           }
         ArrayResize(ids, c + 1, 256);
         ArrayResize(times, c + 1, 256);
         ids[c] = id;
         times[c] = deals[i].time;
         c++;
        }
      // oldest close first (ties: lower ticket first), insertion sort
      for(int i = 1; i < c; i++)
        {
         long id = ids[i];
         datetime tm = times[i];
         int j = i;
         while(j > 0 && (times[j - 1] > tm || (times[j - 1] == tm && ids[j - 1] > id)))
           {
            ids[j] = ids[j - 1];
            times[j] = times[j - 1];
            j--;
           }
         ids[j] = id;
         times[j] = tm;
        }
      int queued = 0;
      int set_aside = 0;
      datetime first_close = 0;
      datetime last_close = 0;
      for(int k = 0; k < c && queued + set_aside < most && !TermIsStopped(); k++)
        {
         RubiDeal pd[];
         if(TermHistoryPositionDeals(ids[k], pd) <= 0)
           {
            // the window's deals of this position (the position's history could not be selected)
            int m = 0;
            for(int i = 0; i < n; i++)
               if(deals[i].position_id == ids[k])
                 {
                  ArrayResize(pd, m + 1, 16);
                  RubiDealCopy(pd[m], deals[i]);
                  m++;
                 }
           }
         RubiSyncTrade t;
         bool built = RubiTradeFromDeals(pd, t);
         datetime closed = built ? t.close_time : times[k];
         string key = IntegerToString(ids[k]);
         string problem = built ? RubiSyncTradeProblem(t) : "its deals close no volume";
         if(problem == "" && t.open_left > RUBI_TS_EPS)
            RubiLogWarn("position " + key + ": " + RubiNumber(t.open_left) + " lots still open according to its deals; reporting the " + RubiNumber(t.lots) + " lots closed");
         if(problem != "")
           {
            RubiJsonWriter w;
            w.BeginObject();
            w.KeyStr("reason", problem);
            w.KeyInt("ticket", ids[k]);
            if(built)
               w.KeyRaw("trade", RubiSyncTradeJson(t, m_offset));
            w.EndObject();
            m_aside.Append(key, w.Text());
            RubiLogWarn("position " + key + " set aside, not sent: " + problem + " (kept in " + RubiFileLabel(RUBI_TS_SET_ASIDE_FILE) + ")");
            set_aside++;
           }
         else
           {
            int added = m_outbox.Append(key, RubiSyncTradeJson(t, m_offset));
            if(added < 0)
              {
               Problem("ERROR", "cannot queue trade " + key + ": " + m_outbox.Error());
               break;
              }
            queued++;
            if(first_close == 0 || closed < first_close)
               first_close = closed;
            if(closed > last_close)
               last_close = closed;
           }
         RecentAdd(ids[k], closed);
         if(closed > m_watermark)
            m_watermark = closed;
        }
      if(queued + set_aside >= c)
        {
         m_history_state = 2;
         m_synced_until = read_at;
        }
      else
         m_history_state = 1;
      if(queued + set_aside > 0)
        {
         RecentPrune();
         SaveState();
        }
      if(queued > 0)
         RubiLogInfo("queued " + IntegerToString(queued) + " closed trade(s), closed " + RubiIsoTime(first_close - m_offset) + " to " + RubiIsoTime(last_close - m_offset) +
                     " UTC; " + IntegerToString(m_outbox.Count()) + " in the outbox");
      return queued;
     }

   // Moves the trades a 400 names (body.trades.<i>) from the outbox to the set-aside outbox.
   // Returns how many; 0 when it names none.
   int               SetAside(const string &keys[], const RubiHttpResponse &r)
     {
      RubiJson j;
      if(!j.Parse(r.body))
         return 0;
      int details = j.Key(j.Key(j.Root(), "error"), "details");
      int n = ArraySize(keys);
      string done[];
      int moved = 0;
      for(int d = j.First(details); d >= 0; d = j.Next(d))
        {
         string path = j.GetStr(d, "path", "");
         int i = RubiTradesPathIndex(path);
         if(i < 0 || i >= n)
            continue;
         string reason = path + ": " + j.GetStr(d, "message", "");
         bool already = false;
         for(int k = 0; k < moved && !already; k++)
            already = done[k] == keys[i];
         if(already)
            continue;
         int at = m_outbox.IndexOf(keys[i]);
         if(at < 0)
            continue;
         RubiJsonWriter w;
         w.BeginObject();
         w.KeyStr("reason", reason);
         w.KeyStr("ticket", keys[i]);
         w.KeyRaw("trade", m_outbox.DocAt(at));
         w.EndObject();
         if(m_aside.Append(keys[i], w.Text()) < 0)
           {
            RubiLogError("cannot set trade " + keys[i] + " aside: " + m_aside.Error());
            continue;
           }
         ArrayResize(done, moved + 1);
         done[moved] = keys[i];
         moved++;
         RubiLogWarn("trade " + keys[i] + " set aside: the backend refused it (HTTP 400 " + reason + "); kept in " + RubiFileLabel(RUBI_TS_SET_ASIDE_FILE));
        }
      if(moved > 0)
         m_outbox.AckMany(done);
      return moved;
     }

   // Sends the outbox in batches (an empty batch when it is empty), at most `max_batches` requests
   // (0: RUBI_TS_BATCHES_PER_CYCLE). False when a request was not acknowledged.
   bool              Flush(const int max_batches)
     {
      if(m_halted || !Registered())
         return false;
      int budget = max_batches > 0 ? max_batches : RUBI_TS_BATCHES_PER_CYCLE;
      bool first = true;
      for(int b = 0; b < budget && (first || m_outbox.Count() > 0) && !TermIsStopped(); b++)
        {
         first = false;
         int count = m_outbox.Count();
         if(count > BatchSize())
            count = BatchSize();
         string keys[];
         ArrayResize(keys, count);
         RubiJsonWriter w;
         w.BeginObject();
         w.Key("trades");
         w.BeginArray();
         for(int i = 0; i < count; i++)
           {
            keys[i] = m_outbox.KeyAt(i);
            w.Raw(m_outbox.DocAt(i));
           }
         w.EndArray();
         bool with_codes = m_code_count > 0 && Scanning();
         if(with_codes)
           {
            w.Key("ownership_codes");
            w.BeginArray();
            for(int i = 0; i < m_code_count; i++)
               w.Str(m_codes[i]);
            w.EndArray();
           }
         bool with_report = !m_report_refused;
         if(with_report)
           {
            w.KeyBool("broker_connected", TermConnected());
            if(m_history_state > 0)
              {
               bool synced = m_history_state == 2 && m_outbox.Count() <= count;
               w.KeyBool("backfill_complete", synced);
               if(synced)
                  w.KeyStr("history_synced_until", RubiIsoTime(m_synced_until));
              }
           }
         w.EndObject();
         RubiHttpOptions o;
         o.timeout_ms = 30000;
         RubiHttpResponse r;
         m_requests++;
         if(!RubiHttpSigned("POST", m_config.trades_url, w.Text(), RUBI_HEADER_ACCOUNT_ID, m_config.external_account_id, m_secret, o, r))
           {
            if(r.blocked)
               return false;
            if(r.status == 400 && SetAside(keys, r) > 0)
              {
               first = true;  // the rest of the batch goes again at once
               continue;
              }
            if(r.status == 400 && with_codes && StringFind(r.body, "ownership_codes") >= 0)
              {
               // A backend older than the ownership proof (its strict body refuses the field): the
               // trades go without the codes, at once and for the rest of this run.
               m_codes_refused = true;
               RubiLogWarn("the backend refused ownership_codes (" + ErrorText(r) + "): sending the trades without them; the ownership proof waits for a newer backend");
               first = true;
               continue;
              }
            if(r.status == 400 && with_report &&
               (StringFind(r.body, "broker_connected") >= 0 || StringFind(r.body, "backfill_complete") >= 0 || StringFind(r.body, "history_synced_until") >= 0))
              {
               // A backend older than the report (its strict body refuses the fields), or one that
               // refuses history_synced_until (this computer's clock): the trades go without the
               // report, at once and for the rest of this run.
               m_report_refused = true;
               RubiLogWarn("the backend refused the terminal report (" + ErrorText(r) + "): sending the trades without broker_connected and the history state");
               first = true;
               continue;
              }
            if(RubiHttpClockSkew(r) || RubiHttpReplayed(r))
              {
               // Not a re-provisioned account: this computer's clock (Http.mqh resynced it when the
               // answer said the time) or an id the server already knew. Kept for the next cycle.
               Problem("WARN", "trades not delivered: " + NoAnswer(r) + (RubiHttpClockSkew(r) ? " (this computer's clock is more than 300 s off: synchronise the Windows clock)" : "") +
                       "; " + IntegerToString(m_outbox.Count()) + " trade(s) kept in the outbox, next attempt in " + IntegerToString(PollSeconds()) + " s");
               return false;
              }
            if(r.status == 401)
              {
               Halt("trades refused (HTTP 401): the stored api secret no longer verifies: the account was provisioned again with a new token, or it was deleted. " +
                    "RubiTradeSync stops sending (" + IntegerToString(m_outbox.Count()) + " trade(s) stay in the outbox); the VPS agent's next launch package restarts it with a fresh token");
               return false;
              }
            Problem("WARN", "trades not delivered: " + NoAnswer(r) + " from " + RubiUrlOrigin(m_config.trades_url) + "; " + IntegerToString(m_outbox.Count()) +
                    " trade(s) kept in the outbox, next attempt in " + IntegerToString(PollSeconds()) + " s");
            return false;
           }
         RubiJson j;
         if(!j.Parse(r.body))
           {
            Problem("WARN", "trades: the response could not be read (" + j.Error() + "); sending again next time");
            return false;
           }
         int root = j.Root();
         string acked[];
         int a = 0;
         int accepted = 0;
         int duplicates = 0;
         for(int part = 0; part < 2; part++)
           {
            int arr = j.Key(root, part == 0 ? "accepted" : "duplicates");
            for(int node = j.First(arr); node >= 0; node = j.Next(node))
              {
               string key = IntegerToString(j.Long(node));
               bool in_batch = false;
               for(int i = 0; i < count && !in_batch; i++)
                  in_batch = keys[i] == key;
               if(!in_batch)
                  continue;
               ArrayResize(acked, a + 1, 64);
               acked[a] = key;
               a++;
               if(part == 0)
                  accepted++;
               else
                  duplicates++;
              }
           }
         OwnershipAnswer(j.GetStr(root, "ownership", ""));
         if(a > 0 && m_outbox.AckMany(acked) < 0)
            Problem("ERROR", "cannot rewrite " + RubiFileLabel(RUBI_TS_OUTBOX_FILE) + ": " + m_outbox.Error() + " (acknowledged trades will be sent again)");
         m_last_problem = "";
         if(!m_secret_confirmed)
           {
            m_secret_confirmed = true;
            RubiLogInfo("registered earlier as external account " + m_config.external_account_id + ": the stored api secret verifies");
           }
         if(count > 0)
            RubiLogInfo("sent " + IntegerToString(count) + " trade(s): " + IntegerToString(accepted) + " accepted, " + IntegerToString(duplicates) +
                        " already stored; cashback accrued " + RubiNumber(j.GetNum(root, "cashback_accrued", 0)) + "; " + IntegerToString(m_outbox.Count()) + " left in the outbox");
         if(count > 0 && a == 0)
           {
            Problem("WARN", "the backend acknowledged none of " + IntegerToString(count) + " trade(s); sending again next time");
            return false;
           }
        }
      return true;
     }

   // One cycle: register when needed, read the clock, queue newly closed trades, send.
   void              Cycle()
     {
      if(!m_ready || m_halted)
         return;
      m_last_cycle = TermTimeGmt();
      if(m_need_register && !Register() && (m_halted || m_secret == "" || m_need_register))
         return;
      ScanOwnership();
      bool sent = false;
      if(!m_clock_checked)
        {
         // The first cycle of a run sends first (what waits, or an empty batch): its answer checks
         // this computer's clock against the backend's (a 401 for the timestamp sets the offset,
         // Http.mqh) before trade times are converted to UTC with it.
         m_clock_checked = true;
         sent = Flush(1);
         if(m_halted)
            return;
        }
      Collect(0);
      if(!sent || m_outbox.Count() > 0)
         Flush(0);  // (the first cycle's empty batch already kept the account connected)
     }

   // OnTimer: a cycle when the poll interval has passed since the last one (the first at once).
   void              OnTimer()
     {
      if(!m_ready || m_halted)
         return;
      if(m_last_cycle != 0 && TermTimeGmt() - m_last_cycle < PollSeconds())
        {
         SampleClock();
         return;
        }
      Cycle();
     }

   void              Deinit(const int reason)
     {
      if(m_ready)
         RubiLogInfo("RubiTradeSync stopped (reason " + IntegerToString(reason) + "); " + IntegerToString(m_outbox.Count()) + " trade(s) wait in the outbox");
     }
  };

#endif

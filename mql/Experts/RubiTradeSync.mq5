//+------------------------------------------------------------------+
//| RubiTradeSync.mq5: the provisioned cashback EA for MetaTrader 5.                                 |
//|                                                                                                  |
//| Reads Files/rendr_ea_config.ini (written by the VPS agent), registers with its one-time token,  |
//| keeps the api secret in Files/RubiTradeSync/state.ini, then every poll interval (60 s) sends the |
//| account's closed trades, signed, through a durable outbox; on first registration it backfills  |
//| the history since the account was registered on the dashboard (or since BackfillFrom /         |
//| BackfillDays). One trade per closed position (ticket = position id). Until the backend answers |
//| ownership verified, it also sends the ownership codes (RUBI-XXXXXXXX) found in the comments of  |
//| the account's pending and history orders (the trader's proof that the account is theirs). Every |
//| request reports whether the terminal is connected to the broker (TERMINAL_CONNECTED) and how far |
//| the history is sent, for the account's health on the dashboard. All logic: Rubi/TradeSync.mqh   |
//| Operator documentation: mql/README.md, "RubiTradeSync (provisioned trade sync)".               |
//+------------------------------------------------------------------+
#property copyright   "Rubi MT Bridge"
#property version     "1.00"
#property description "Rubi MT Bridge trade sync: reports closed trades of this account for cashback (provisioned by the VPS agent)"

#include <Rubi/TradeSync.mqh>

input datetime BackfillFrom = 0;   // Backfill from (trade server time; 0: BackfillDays, else the account's registration)
input int      BackfillDays = 0;   // Backfill days before registering, when BackfillFrom is 0 (0: from the account's registration on the dashboard)
input int      PollSeconds  = 0;   // Send every N seconds (0: the backend's poll_interval_seconds, 60)
input int      BatchSize    = 0;   // Trades per request (0: the backend's max_trades_per_batch, 500)
input int      RescanHours  = 24;  // Hours of history read again each cycle for late deals

RubiTradeSync g_sync;

int OnInit()
  {
   RubiTradeSyncOptions o;
   o.backfill_from = BackfillFrom;
   o.backfill_days = BackfillDays;
   o.poll_seconds = PollSeconds;
   o.batch_size = BatchSize;
   o.rescan_hours = RescanHours;
   if(!g_sync.Init(o))
      return INIT_FAILED;
   if(!EventSetTimer(RUBI_TS_TIMER_SECONDS))
     {
      RubiLogError("EventSetTimer failed (error " + IntegerToString(GetLastError()) + "): RubiTradeSync cannot run");
      return INIT_FAILED;
     }
   return INIT_SUCCEEDED;
  }

void OnTimer()
  {
   g_sync.OnTimer();
  }

void OnTick()
  {
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   g_sync.Deinit(reason);
  }

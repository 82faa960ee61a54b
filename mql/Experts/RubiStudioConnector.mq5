//+------------------------------------------------------------------+
//| RubiStudioConnector.mq5: the signals bridge between this MetaTrader 5 terminal and Rubi MT      |
//| Bridge. Connects with an EA key, pings with balance/equity/margin every CheckInterval ms,       |
//| executes the signals the dashboard sends (BUY, SELL, CLOSE_BUY, CLOSE_SELL) exactly once, even  |
//| across terminal crashes, reports each outcome with the trade server's retcode, pushes the open  |
//| positions whenever they change, and disconnects when removed.                                    |
//| All the logic is in Include/Rubi/Connector.mqh (tested on the host: mql/README.md).             |
//| Operator documentation: mql/README.md, section "RubiStudioConnector (signals bridge)".           |
//+------------------------------------------------------------------+
#property copyright "Rubi MT Bridge"
#property link      "https://github.com/rubi-mt-bridge"
#property version   "1.00"
#property description "Rubi Studio signals bridge: executes dashboard signals exactly once and reports them."

#include <Rubi/Connector.mqh>
#include <Rubi/Hmac.mqh>
#include <Rubi/Log.mqh>

input string BackendURL        = "https://YOUR-PROJECT.supabase.co/functions/v1"; // Backend URL (<SUPABASE_URL>/functions/v1)
input string KeyId             = "";        // EA key id (dashboard, EA keys)
input string KeySecret         = "";        // EA key secret (whsec_..., shown once)
input int    CheckInterval     = 5000;      // Check interval (ms): ping and poll
input bool   EnableAutoTrading = true;      // Execute signals (false: report them REJECTED)
input double MaxRiskPercent    = 2.0;       // Max risk per signal, % of equity (0: no check)
input int    MaxOpenPositions  = 5;         // Max open positions with this magic (0: no limit)
input long   MagicNumber       = 20261121;  // Magic number of the EA's orders
input string Symbols           = "";        // Symbols whose specs are sent (comma list; empty: chart symbol)
input int    SlippagePoints    = 20;        // Max slippage (points)

RubiConnector g_connector;
bool          g_started = false;

int OnInit()
  {
   RubiLogInit(RUBI_LOG_CONNECTOR, 0);
   RubiConnectorConfig c;
   c.backend_url = BackendURL;
   c.key_id = KeyId;
   c.secret = KeySecret;
   c.check_interval_ms = CheckInterval;
   c.auto_trading = EnableAutoTrading;
   c.max_risk_percent = MaxRiskPercent;
   c.max_open_positions = MaxOpenPositions;
   c.magic = MagicNumber;
   c.symbols = RubiTrim(Symbols) != "" ? Symbols : _Symbol;
   c.slippage_points = SlippagePoints;
   c.ea_version = RUBI_CONNECTOR_VERSION;
   string problem = RubiConnectorConfigProblem(c);
   if(problem != "")
     {
      RubiLogError("inputs: " + problem);
      return INIT_PARAMETERS_INCORRECT;
     }
   if(!RubiHmacSelfTest())
     {
      RubiLogError("self-test failed: this terminal's CryptEncode does not compute HMAC-SHA256 correctly; update the terminal");
      return INIT_FAILED;
     }
   if(!g_connector.Init(c))
     {
      RubiLogError("the journal in MQL5/Files/Rubi cannot be written: no signal will be executed until it can (check disk space and permissions)");
      return INIT_FAILED;
     }
   RubiLogInfo("RubiStudioConnector " + RUBI_CONNECTOR_VERSION + " starting: " + RubiUrlOrigin(BackendURL) + ", magic " + IntegerToString(MagicNumber) +
               ", every " + IntegerToString(CheckInterval) + " ms, auto-trading " + (EnableAutoTrading ? "on" : "OFF"));
   if(!EnableAutoTrading)
      RubiLogWarn("EnableAutoTrading is false: signals are reported REJECTED, no order is sent");
   // A failed connect is retried by the timer (backend down, WebRequest not allowed yet, ...).
   g_started = g_connector.Start();
   if(!EventSetMillisecondTimer(CheckInterval))
     {
      RubiLogError("could not start the timer");
      return INIT_FAILED;
     }
   return INIT_SUCCEEDED;
  }

void OnTimer()
  {
   g_connector.Tick();
  }

// A position opened, changed or closed (by this EA, by hand, by a stop): push the list now.
void OnTrade()
  {
   if(g_connector.SessionId() != "")
      g_connector.PushPositions(false);
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
   g_connector.Disconnect(reason);
  }

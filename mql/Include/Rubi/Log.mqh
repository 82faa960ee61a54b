//+------------------------------------------------------------------+
//| Rubi/Log.mqh: the EA's log, written twice (MQL4 and MQL5).                                       |
//|                                                                                                  |
//|   Print()          the terminal's EA log (MQL5/Logs/YYYYMMDD.log, MQL4/Logs): the VPS agent     |
//|                    reads it (vps-agent/src/terminal-log.ts) and acts on phrases such as         |
//|                    "registered" and "WebRequest not allowed (error 4014)"                       |
//|   Files/<name>     a debug log the EA owns, UTF-8, one line per message:                        |
//|                    "2025-11-21T10:15:00Z INFO message" (UTC); rotated to <name>.1 past a size   |
//|                                                                                                  |
//| File names: RUBI_LOG_PROVISIONED ("RendR_debug.log", the provisioned cashback EA, as the agent's |
//| seed names it) and RUBI_LOG_CONNECTOR ("RubiConnector.log", the signals bridge EA).              |
//| Never log a secret, a token or a signature.                                                      |
//+------------------------------------------------------------------+
#ifndef RUBI_LOG_MQH
#define RUBI_LOG_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Files.mqh>
#include <Rubi/Terminal.mqh>

#define RUBI_LOG_PROVISIONED "RendR_debug.log"
#define RUBI_LOG_CONNECTOR   "RubiConnector.log"

string g_rubi_log_file = "";          // "" until RubiLogInit: Print only
long   g_rubi_log_max_bytes = 5242880;
bool   g_rubi_log_print = true;

// Starts logging to Files/<file_name> (besides Print); `max_bytes` before rotation (0: default).
void RubiLogInit(const string file_name, const long max_bytes)
  {
   g_rubi_log_file = file_name;
   if(max_bytes > 0)
      g_rubi_log_max_bytes = max_bytes;
  }

void RubiLogWrite(const string level, const string message)
  {
   if(g_rubi_log_print)
      Print(level == "INFO" ? message : level + " " + message);
   if(g_rubi_log_file == "")
      return;
   if(RubiFileSize(g_rubi_log_file) > g_rubi_log_max_bytes)
      FileMove(g_rubi_log_file, 0, g_rubi_log_file + ".1", FILE_REWRITE);
   uchar bytes[];
   int n = RubiUtf8Encode(RubiIsoTime(TermTimeGmt()) + " " + level + " " + message + "\r\n", bytes);
   RubiFileAppend(g_rubi_log_file, bytes, n);
  }

void RubiLogInfo(const string message) { RubiLogWrite("INFO", message); }
void RubiLogWarn(const string message) { RubiLogWrite("WARN", message); }
void RubiLogError(const string message) { RubiLogWrite("ERROR", message); }

#endif

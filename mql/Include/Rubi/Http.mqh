//+------------------------------------------------------------------+
//| Rubi/Http.mqh: HTTP for the EAs over WebRequest (MQL4 and MQL5).                                 |
//|                                                                                                  |
//| WebRequest(method, url, headers, timeout, data, result, result_headers), the header-string form. |
//| JSON bodies go out as their exact UTF-8 bytes (no terminating NUL). Retries, with exponential    |
//| backoff and jitter, only for what may succeed later: no response at all, 408, 429 and 5xx; a    |
//| Retry-After (seconds) is honoured, and one longer than max_retry_after_ms ends the attempts     |
//| (the caller tries again on its next timer). Other 4xx are returned at once. Sleeping goes       |
//| through TermSleep (the host tests record it instead of waiting).                                 |
//|                                                                                                  |
//| A URL missing from Tools > Options > Expert Advisors > "Allow WebRequest for listed URL" makes  |
//| WebRequest fail with 4014 (MT5; MT4 reports 4060): logged once per URL as                        |
//|   "WebRequest not allowed (error 4014): add https://host under Tools -> Options -> ..."          |
//| which the VPS agent recognises (vps-agent/src/terminal-log.ts), and never retried.               |
//|                                                                                                  |
//| Signed requests (RubiHttpSigned) are signed again for every attempt: a new X-Trade-Id and        |
//| timestamp each time, since the server refuses a replayed id.                                     |
//+------------------------------------------------------------------+
#ifndef RUBI_HTTP_MQH
#define RUBI_HTTP_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Log.mqh>
#include <Rubi/Terminal.mqh>
#include <Rubi/Webhooks.mqh>

#define RUBI_ERR_WEBREQUEST_NOT_ALLOWED     4014  // MT5
#define RUBI_ERR_WEBREQUEST_NOT_ALLOWED_MT4 4060  // MT4: "function is not confirmed"

struct RubiHttpOptions
  {
   int               timeout_ms;          // per attempt (WebRequest's timeout)
   int               max_attempts;        // 1: no retry
   int               base_delay_ms;       // first backoff; doubles per attempt
   int               max_delay_ms;        // cap of one backoff
   int               max_retry_after_ms;  // a longer Retry-After ends the attempts
                     RubiHttpOptions()
     {
      timeout_ms = 5000;
      max_attempts = 3;
      base_delay_ms = 1000;
      max_delay_ms = 8000;
      max_retry_after_ms = 30000;
     }
  };

struct RubiHttpResponse
  {
   int               status;          // HTTP status; -1: no response (see error)
   string            body;            // UTF-8 decoded
   string            headers;         // response headers as WebRequest returns them
   int               error;           // GetLastError() of the last failed WebRequest, else 0
   int               attempts;
   bool              blocked;         // the URL is not in the terminal's WebRequest allow-list
   int               retry_after_s;   // Retry-After of the last response, -1 when absent
  };

string g_rubi_http_blocked_logged = "";  // URLs already reported as blocked (one line each)

// "https://host[:port]" of a URL: what goes into the terminal's allow-list.
string RubiUrlOrigin(const string url)
  {
   int scheme = StringFind(url, "://");
   if(scheme < 0)
      return url;
   int slash = StringFind(url, "/", scheme + 3);
   return slash < 0 ? url : StringSubstr(url, 0, slash);
  }

// The value of a response header (case-insensitive name), "" when absent.
string RubiHeaderValue(const string headers, const string name)
  {
   string lines[];
   string wanted = RubiLowerAscii(name);
   int n = StringSplit(headers, '\n', lines);
   for(int i = 0; i < n; i++)
     {
      int colon = StringFind(lines[i], ":");
      if(colon <= 0)
         continue;
      if(RubiLowerAscii(RubiTrim(StringSubstr(lines[i], 0, colon))) == wanted)
         return RubiTrim(StringSubstr(lines[i], colon + 1));
     }
   return "";
  }

// Retry-After in whole seconds, -1 when absent or not a number of seconds (an HTTP date is ignored).
int RubiRetryAfterSeconds(const string headers)
  {
   string v = RubiHeaderValue(headers, "Retry-After");
   int n = StringLen(v);
   if(n == 0 || n > 6)
      return -1;
   for(int i = 0; i < n; i++)
     {
      ushort c = StringGetCharacter(v, i);
      if(c < '0' || c > '9')
         return -1;
     }
   return (int)StringToInteger(v);
  }

bool RubiHttpRetryable(const int status)
  {
   return status == -1 || status == 408 || status == 429 || status >= 500;
  }

// Backoff before attempt `attempt + 1` (attempt >= 1): base * 2^(attempt-1), capped, half of it
// jittered ("equal jitter"), and at least the server's Retry-After.
int RubiBackoffMs(const RubiHttpOptions &o, const int attempt, const int retry_after_s)
  {
   long delay = o.base_delay_ms;
   for(int i = 1; i < attempt && delay < o.max_delay_ms; i++)
      delay *= 2;
   if(delay > o.max_delay_ms)
      delay = o.max_delay_ms;
   long half = delay / 2;
   long jittered = half + (half > 0 ? (long)(MathRand() % (int)(half + 1)) : 0);
   if(retry_after_s >= 0 && (long)retry_after_s * 1000 > jittered)
      jittered = (long)retry_after_s * 1000;
   return (int)jittered;
  }

void RubiHttpReportBlocked(const string url, const int error)
  {
   string origin = RubiUrlOrigin(url);
   if(StringFind(g_rubi_http_blocked_logged, "|" + origin + "|") >= 0)
      return;
   g_rubi_http_blocked_logged += "|" + origin + "|";
   RubiLogError("WebRequest not allowed (error " + IntegerToString(error) + "): add " + origin +
                " under Tools -> Options -> Expert Advisors -> 'Allow WebRequest for listed URL', then restart the EA");
  }

// One WebRequest: `body_len` bytes of `body` (GET: 0). Fills status/body/headers/error of `r`.
void RubiHttpOnce(const string method, const string url, const string headers, const uchar &body[], const int body_len,
                  const int timeout_ms, RubiHttpResponse &r)
  {
   char data[];
   char result[];
   string result_headers = "";
   ArrayResize(data, body_len);
   for(int i = 0; i < body_len; i++)
      data[i] = (char)body[i];
   ResetLastError();
   int status = WebRequest(method, url, headers, timeout_ms, data, result, result_headers);
   r.status = status;
   r.error = status == -1 ? GetLastError() : 0;
   r.headers = result_headers;
   int n = ArraySize(result);
   uchar bytes[];
   ArrayResize(bytes, n);
   for(int i = 0; i < n; i++)
      bytes[i] = (uchar)result[i];
   string text = "";
   RubiUtf8Decode(bytes, 0, n, text);
   r.body = text;
   r.blocked = status == -1 && (r.error == RUBI_ERR_WEBREQUEST_NOT_ALLOWED || r.error == RUBI_ERR_WEBREQUEST_NOT_ALLOWED_MT4);
   r.retry_after_s = status == -1 ? -1 : RubiRetryAfterSeconds(result_headers);
  }

// The attempts loop. `signer_header` "" sends `headers` unsigned; otherwise every attempt is signed
// with `key` and gets the signed header block. True when a response with status 2xx arrived.
bool RubiHttpAttempts(const string method, const string url, const string headers, const string signer_header, const string signer_id,
                      const uchar &key[], const uchar &body[], const int body_len, const RubiHttpOptions &o, RubiHttpResponse &r)
  {
   r.status = -1;
   r.body = "";
   r.headers = "";
   r.error = 0;
   r.attempts = 0;
   r.blocked = false;
   r.retry_after_s = -1;
   int attempts = o.max_attempts < 1 ? 1 : o.max_attempts;
   for(int attempt = 1; attempt <= attempts; attempt++)
     {
      string h = headers;
      if(signer_header != "")
        {
         RubiSignature sig;
         if(!RubiSignBytes(key, RubiNewMessageId(), (long)TermTimeGmt(), body, body_len, sig))
           {
            RubiLogError("could not sign the request to " + RubiUrlOrigin(url) + ": the terminal's CryptEncode failed");
            return false;
           }
         h = RubiSignedHeaders(signer_header, signer_id, sig);
         if(h == "")
           {
            RubiLogError("refusing a header value with a line break");
            return false;
           }
        }
      r.attempts = attempt;
      RubiHttpOnce(method, url, h, body, body_len, o.timeout_ms, r);
      if(r.blocked)
        {
         RubiHttpReportBlocked(url, r.error);
         return false;
        }
      if(r.status >= 200 && r.status < 300)
         return true;
      if(!RubiHttpRetryable(r.status) || attempt == attempts || TermIsStopped())
         return false;
      if(r.retry_after_s >= 0 && (long)r.retry_after_s * 1000 > o.max_retry_after_ms)
         return false;
      int delay = RubiBackoffMs(o, attempt, r.retry_after_s);
      RubiLogWarn(method + " " + RubiUrlOrigin(url) + ": " + (r.status == -1 ? "no response (error " + IntegerToString(r.error) + ")" : "HTTP " + IntegerToString(r.status)) +
                  ", attempt " + IntegerToString(attempt) + " of " + IntegerToString(attempts) + ", retrying in " + IntegerToString(delay) + " ms");
      TermSleep(delay);
     }
   return false;
  }

// An unsigned JSON request (e.g. register): `json` is the body ("" for none).
bool RubiHttpJson(const string method, const string url, const string json, const RubiHttpOptions &o, RubiHttpResponse &r)
  {
   uchar body[];
   uchar no_key[];
   int n = json == "" ? 0 : RubiUtf8Encode(json, body);
   return RubiHttpAttempts(method, url, RubiJsonHeaders(), "", "", no_key, body, n, o, r);
  }

// A signed JSON request: `signer_header` RUBI_HEADER_KEY_ID or RUBI_HEADER_ACCOUNT_ID, `secret`
// the whsec_ secret. GET requests sign an empty body.
bool RubiHttpSigned(const string method, const string url, const string json, const string signer_header, const string signer_id,
                    const string secret, const RubiHttpOptions &o, RubiHttpResponse &r)
  {
   uchar key[];
   if(!RubiWebhookKey(secret, key))
     {
      r.status = -1;
      r.error = 0;
      r.attempts = 0;
      r.blocked = false;
      r.body = "";
      r.headers = "";
      r.retry_after_s = -1;
      RubiLogError("the signing secret is malformed (expected whsec_ and base64)");
      return false;
     }
   uchar body[];
   int n = json == "" ? 0 : RubiUtf8Encode(json, body);
   return RubiHttpAttempts(method, url, "", signer_header, signer_id, key, body, n, o, r);
  }

#endif

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
//| Signed requests (RubiHttpSigned), as packages/ea-sim/src/signed-http.ts does them:               |
//| - a retry (no response, 408, 429, 5xx) keeps the X-Trade-Id and body, re-signed with a fresh     |
//|   timestamp: the server remembers an id only together with the work it committed, so a request |
//|   it refused or failed is accepted again under the same id;                                      |
//| - 401 "request timestamp is more than 300 s old / in the future": this computer's clock is off. |
//|   The offset is set from the response's Date header (else a server_time in its body), the same  |
//|   request (same id) is signed again with the corrected clock and sent once more, and every later |
//|   request signs with the corrected clock (Webhooks.mqh: RubiSigningTime);                        |
//| - 401 "replayed request" after a retry: the earlier attempt under that id was committed but its |
//|   answer was lost. An idempotent route (the default) is sent once more under a fresh id and that |
//|   answer is used; with idempotent = false (the disconnect) the response's applied_earlier is set |
//|   and false returned (the caller counts it as done). On a first attempt it is an error;         |
//| - any other 401 (unknown or revoked key, account not registered, signature does not match) and  |
//|   any other 4xx are returned at once.                                                            |
//+------------------------------------------------------------------+
#ifndef RUBI_HTTP_MQH
#define RUBI_HTTP_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Log.mqh>
#include <Rubi/Terminal.mqh>
#include <Rubi/Webhooks.mqh>
#include <Rubi/Json.mqh>

#define RUBI_ERR_WEBREQUEST_NOT_ALLOWED     4014  // MT5
#define RUBI_ERR_WEBREQUEST_NOT_ALLOWED_MT4 4060  // MT4: "function is not confirmed"

struct RubiHttpOptions
  {
   int               timeout_ms;          // per attempt (WebRequest's timeout)
   int               max_attempts;        // 1: no retry
   int               base_delay_ms;       // first backoff; doubles per attempt
   int               max_delay_ms;        // cap of one backoff
   int               max_retry_after_ms;  // a longer Retry-After ends the attempts
   bool              idempotent;          // signed: may be resent under a fresh id after a replayed-id 401
                     RubiHttpOptions()
     {
      idempotent = true;
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
   string            request_id;      // signed: the X-Trade-Id of the last attempt
   bool              clock_resynced;  // signed: a timestamp 401 set the clock offset during this request
   bool              applied_earlier; // signed, idempotent = false: a replayed-id 401 after a retry (it was applied)
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

// The server's error message: `error.message` of the JSON body (or `error` when it is a string).
string RubiHttpErrorMessage(const string body)
  {
   RubiJson j;
   if(!j.Parse(body))
      return "";
   int e = j.Key(j.Root(), "error");
   if(j.Type(e) == RUBI_JSON_OBJECT)
      return j.GetStr(e, "message", "");
   if(j.Type(e) == RUBI_JSON_STRING)
      return j.Str(e);
   return "";
  }

// A 401 for the timestamp: "request timestamp is more than <n> s old" / "... in the future".
bool RubiHttpClockSkew(const RubiHttpResponse &r)
  {
   if(r.status != 401)
      return false;
   string m = RubiHttpErrorMessage(r.body);
   string head = "request timestamp is more than ";
   if(!RubiStartsWith(m, head))
      return false;
   string rest = StringSubstr(m, StringLen(head));
   string tail = RubiEndsWith(rest, " s old") ? " s old" : RubiEndsWith(rest, " s in the future") ? " s in the future" : "";
   if(tail == "")
      return false;
   string digits = StringSubstr(rest, 0, StringLen(rest) - StringLen(tail));
   return StringLen(digits) > 0 && RubiDigitsAt(digits, 0, StringLen(digits)) >= 0;
  }

// A 401 for an X-Trade-Id the server already committed work for.
bool RubiHttpReplayed(const RubiHttpResponse &r)
  {
   return r.status == 401 && RubiStartsWith(RubiHttpErrorMessage(r.body), "replayed request");
  }

// The server's clock when it answered: the Date header (1 s resolution), else a `server_time`
// (ISO-8601) in the body. False when the response carries neither.
bool RubiHttpServerTime(const RubiHttpResponse &r, datetime &t)
  {
   if(RubiHttpDateParse(RubiHeaderValue(r.headers, "Date"), t))
      return true;
   RubiJson j;
   return j.Parse(r.body) && j.Type(j.Root()) == RUBI_JSON_OBJECT && RubiIsoParse(j.GetStr(j.Root(), "server_time", ""), t);
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
// with `key` and gets the signed header block (the rules at the top of this file). True when a
// response with status 2xx arrived. r.attempts counts every request sent.
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
   r.request_id = "";
   r.clock_resynced = false;
   r.applied_earlier = false;
   bool signed_request = signer_header != "";
   int attempts = o.max_attempts < 1 ? 1 : o.max_attempts;
   string id = signed_request ? RubiNewMessageId() : "";
   bool may_be_applied = false;  // an attempt under `id` may have been committed without us seeing the answer
   bool resent = false;
   int attempt = 1;
   for(;;)
     {
      string h = headers;
      if(signed_request)
        {
         RubiSignature sig;
         if(!RubiSignBytes(key, id, (long)RubiSigningTime(), body, body_len, sig))
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
         r.request_id = id;
        }
      r.attempts++;
      RubiHttpOnce(method, url, h, body, body_len, o.timeout_ms, r);
      if(r.blocked)
        {
         RubiHttpReportBlocked(url, r.error);
         return false;
        }
      if(r.status >= 200 && r.status < 300)
         return true;
      if(signed_request && !r.clock_resynced && RubiHttpClockSkew(r))
        {
         datetime server = 0;
         if(!RubiHttpServerTime(r, server))
            return false;  // nothing to set the clock from
         long offset = (long)server - (long)TermTimeGmt();
         RubiSetClockOffset(offset);
         r.clock_resynced = true;
         RubiLogWarn(method + " " + RubiUrlOrigin(url) + ": this computer's clock is " + IntegerToString(offset < 0 ? -offset : offset) + " s " +
                     (offset < 0 ? "ahead of" : "behind") + " the backend's (HTTP 401 for the timestamp): signing with the backend's clock from now on; synchronise the Windows clock");
         continue;  // same id: the server stored nothing for the refused request
        }
      if(signed_request && may_be_applied && !resent && RubiHttpReplayed(r))
        {
         if(!o.idempotent)
           {
            r.applied_earlier = true;
            return false;
           }
         resent = true;
         may_be_applied = false;
         string replayed = id;
         id = RubiNewMessageId();
         RubiLogInfo(method + " " + RubiUrlOrigin(url) + ": request " + replayed + " was applied but its answer was lost; sending it again as " + id);
         continue;
        }
      if(!RubiHttpRetryable(r.status) || attempt >= attempts || TermIsStopped())
         return false;
      if(r.retry_after_s >= 0 && (long)r.retry_after_s * 1000 > o.max_retry_after_ms)
         return false;
      // No response or a server error: the work may have been committed (a lost answer, a gateway
      // timeout), so a replayed-id 401 on a later attempt means it was.
      may_be_applied = true;
      int delay = RubiBackoffMs(o, attempt, r.retry_after_s);
      RubiLogWarn(method + " " + RubiUrlOrigin(url) + ": " + (r.status == -1 ? "no response (error " + IntegerToString(r.error) + ")" : "HTTP " + IntegerToString(r.status)) +
                  ", attempt " + IntegerToString(attempt) + " of " + IntegerToString(attempts) + ", retrying in " + IntegerToString(delay) + " ms");
      TermSleep(delay);
      attempt++;
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
      r.request_id = "";
      r.clock_resynced = false;
      r.applied_earlier = false;
      RubiLogError("the signing secret is malformed (expected whsec_ and base64)");
      return false;
     }
   uchar body[];
   int n = json == "" ? 0 : RubiUtf8Encode(json, body);
   return RubiHttpAttempts(method, url, "", signer_header, signer_id, key, body, n, o, r);
  }

#endif

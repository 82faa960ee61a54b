//+------------------------------------------------------------------+
//| Rubi/Webhooks.mqh: Standard Webhooks request signing, as the server verifies it                 |
//| (packages/crypto/src/signing.ts). MQL4 and MQL5; pure logic apart from the clock.               |
//|                                                                                                  |
//|   secret     whsec_<base64 of the key bytes>                                                    |
//|   content    "<id>.<timestamp>.<raw body bytes>"     timestamp: Unix seconds (TimeGMT)          |
//|   headers    X-Trade-Id: <id>   X-Trade-Timestamp: <timestamp>                                  |
//|              X-Trade-Signature: v1,<base64 HMAC-SHA256(key, content)>                           |
//|              plus who signs: X-EA-Key-Id (connector EA) or X-Account-Id (provisioned EA)        |
//|                                                                                                  |
//| Sign the exact bytes that are sent: RubiSignBytes takes the body as bytes. A request keeps its  |
//| id over its retries (the server remembers an id only with the work it committed); Http.mqh      |
//| re-signs each attempt with a fresh timestamp.                                                    |
//|                                                                                                  |
//| The clock: timestamps are RubiSigningTime() = TermTimeGmt() + the offset learnt from the        |
//| server (RubiSetClockOffset, set by Http.mqh from the Date header of a 401 "request timestamp is |
//| more than 300 s old / in the future"); 0 until then. One offset per EA, kept for every later    |
//| request (and across a new secret), not across a restart.                                        |
//+------------------------------------------------------------------+
#ifndef RUBI_WEBHOOKS_MQH
#define RUBI_WEBHOOKS_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Hmac.mqh>
#include <Rubi/Terminal.mqh>

#define RUBI_SECRET_PREFIX "whsec_"
#define RUBI_HEADER_KEY_ID "X-EA-Key-Id"
#define RUBI_HEADER_ACCOUNT_ID "X-Account-Id"

struct RubiSignature
  {
   string            id;
   string            timestamp;
   string            signature;
  };

uint g_rubi_id_counter = 0;
bool g_rubi_id_seeded = false;
long g_rubi_clock_offset_s = 0;  // server clock - this computer's clock (s), learnt after a timestamp 401

// The offset (s) added to this computer's UTC clock when signing.
long RubiClockOffset() { return g_rubi_clock_offset_s; }
void RubiSetClockOffset(const long seconds) { g_rubi_clock_offset_s = seconds; }

// UTC by this computer's clock corrected with the offset learnt from the server: what requests are
// signed with, and what the EAs use as "now" where the backend's clock matters.
datetime RubiSigningTime() { return (datetime)((long)TermTimeGmt() + g_rubi_clock_offset_s); }

// The raw key of a secret ("whsec_" optional, then strict base64). False: malformed or empty.
bool RubiWebhookKey(const string secret, uchar &key[])
  {
   string encoded = RubiStartsWith(secret, RUBI_SECRET_PREFIX) ? StringSubstr(secret, StringLen(RUBI_SECRET_PREFIX)) : secret;
   return RubiBase64Decode(encoded, key) && ArraySize(key) > 0;
  }

// A new message id: "msg_" + 32 hex digits from the UTC clock, the tick counter, a per-run counter
// and the random generator (seeded once from the clocks), unique across restarts of the EA.
string RubiNewMessageId()
  {
   if(!g_rubi_id_seeded)
     {
      MathSrand((uint)(TermTickCount() ^ (uint)TermTimeGmt()));
      g_rubi_id_seeded = true;
     }
   g_rubi_id_counter++;
   return "msg_" + RubiHex((ulong)TermTimeGmt(), 8) + RubiHex(TermTickCount(), 8) + RubiHex(g_rubi_id_counter, 4) +
          RubiHex((ulong)MathRand(), 4) + RubiHex((ulong)MathRand(), 4) + RubiHex((ulong)MathRand(), 4);
  }

// Signs `body_len` bytes of `body` with the raw `key` for `id` at `timestamp`.
bool RubiSignBytes(const uchar &key[], const string id, const long timestamp, const uchar &body[], const int body_len, RubiSignature &sig)
  {
   uchar head[];
   string ts = IntegerToString(timestamp);
   int head_len = RubiUtf8Encode(id + "." + ts + ".", head);
   uchar content[];
   ArrayResize(content, head_len + body_len);
   if(head_len > 0)
      ArrayCopy(content, head, 0, 0, head_len);
   if(body_len > 0)
      ArrayCopy(content, body, head_len, 0, body_len);
   uchar mac[];
   if(!RubiHmacSha256(key, content, head_len + body_len, mac))
      return false;
   string b64 = RubiBase64Encode(mac, ArraySize(mac));
   if(StringLen(b64) != 44)
      return false;
   sig.id = id;
   sig.timestamp = ts;
   sig.signature = "v1," + b64;
   return true;
  }

// Convenience: signs the UTF-8 bytes of `body` with a `whsec_` secret.
bool RubiSignBody(const string secret, const string id, const long timestamp, const string body, RubiSignature &sig)
  {
   uchar key[];
   if(!RubiWebhookKey(secret, key))
      return false;
   uchar bytes[];
   int n = RubiUtf8Encode(body, bytes);
   return RubiSignBytes(key, id, timestamp, bytes, n, sig);
  }

// A header value must stay on its line (a CR or LF would inject headers): such a value is refused.
bool RubiHeaderSafe(const string value)
  {
   return StringFind(value, "\r") < 0 && StringFind(value, "\n") < 0;
  }

// The JSON headers of every request: "Content-Type" and "Accept", CRLF-terminated lines.
string RubiJsonHeaders()
  {
   return "Content-Type: application/json\r\nAccept: application/json\r\n";
  }

// The header block of a signed request ("" when a value would break the header lines).
string RubiSignedHeaders(const string signer_header, const string signer_id, const RubiSignature &sig)
  {
   if(!RubiHeaderSafe(signer_header) || !RubiHeaderSafe(signer_id) || !RubiHeaderSafe(sig.id))
      return "";
   return RubiJsonHeaders() + signer_header + ": " + signer_id + "\r\n" + "X-Trade-Id: " + sig.id + "\r\n" +
          "X-Trade-Timestamp: " + sig.timestamp + "\r\n" + "X-Trade-Signature: " + sig.signature + "\r\n";
  }

#endif

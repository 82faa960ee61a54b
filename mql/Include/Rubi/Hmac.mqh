//+------------------------------------------------------------------+
//| Rubi/Hmac.mqh: SHA-256, HMAC-SHA256 and base64 for request signing (MQL4 and MQL5).              |
//|                                                                                                  |
//| MQL has SHA-256 (CryptEncode(CRYPT_HASH_SHA256)) but no HMAC: RubiHmacSha256 builds it per       |
//| RFC 2104 (64-byte block; a key longer than the block is hashed first; ipad 0x36, opad 0x5c).     |
//| Base64 encoding uses CryptEncode(CRYPT_BASE64) with any CR/LF removed (some builds wrap long     |
//| output). Decoding is written out here and is strict, like the server's (standard alphabet, '='   |
//| padding required, nothing else): a secret the server would refuse is refused here too.          |
//| RubiHmacSelfTest() checks the terminal's primitives against RFC 4231 at start-up.                |
//+------------------------------------------------------------------+
#ifndef RUBI_HMAC_MQH
#define RUBI_HMAC_MQH

#include <Rubi/Text.mqh>

#define RUBI_SHA256_BLOCK 64
#define RUBI_SHA256_BYTES 32
#define RUBI_BASE64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// SHA-256 of `count` bytes of `data` into `digest` (32 bytes). False if the terminal refused.
bool RubiSha256(const uchar &data[], const int count, uchar &digest[])
  {
   uchar input[];
   uchar no_key[];
   ArrayResize(input, count);
   if(count > 0)
      ArrayCopy(input, data, 0, 0, count);
   ArrayResize(digest, 0);
   int n = CryptEncode(CRYPT_HASH_SHA256, input, no_key, digest);
   return n == RUBI_SHA256_BYTES && ArraySize(digest) == RUBI_SHA256_BYTES;
  }

// HMAC-SHA256 (RFC 2104) of `msg_len` bytes of `msg` with `key` into `mac` (32 bytes).
bool RubiHmacSha256(const uchar &key[], const uchar &msg[], const int msg_len, uchar &mac[])
  {
   uchar block[];
   ArrayResize(block, RUBI_SHA256_BLOCK);
   ArrayInitialize(block, 0);
   int key_len = ArraySize(key);
   if(key_len > RUBI_SHA256_BLOCK)
     {
      uchar hashed[];
      if(!RubiSha256(key, key_len, hashed))
         return false;
      ArrayCopy(block, hashed, 0, 0, RUBI_SHA256_BYTES);
     }
   else
      if(key_len > 0)
         ArrayCopy(block, key, 0, 0, key_len);

   uchar inner[];
   ArrayResize(inner, RUBI_SHA256_BLOCK + msg_len);
   for(int i = 0; i < RUBI_SHA256_BLOCK; i++)
      inner[i] = (uchar)(block[i] ^ 0x36);
   if(msg_len > 0)
      ArrayCopy(inner, msg, RUBI_SHA256_BLOCK, 0, msg_len);
   uchar inner_hash[];
   if(!RubiSha256(inner, RUBI_SHA256_BLOCK + msg_len, inner_hash))
      return false;

   uchar outer[];
   ArrayResize(outer, RUBI_SHA256_BLOCK + RUBI_SHA256_BYTES);
   for(int i = 0; i < RUBI_SHA256_BLOCK; i++)
      outer[i] = (uchar)(block[i] ^ 0x5c);
   ArrayCopy(outer, inner_hash, RUBI_SHA256_BLOCK, 0, RUBI_SHA256_BYTES);
   return RubiSha256(outer, RUBI_SHA256_BLOCK + RUBI_SHA256_BYTES, mac);
  }

// Standard base64 with padding, one line ("" for no bytes or when the terminal refused).
string RubiBase64Encode(const uchar &data[], const int count)
  {
   if(count <= 0)
      return "";
   uchar input[];
   uchar no_key[];
   uchar encoded[];
   ArrayResize(input, count);
   ArrayCopy(input, data, 0, 0, count);
   int n = CryptEncode(CRYPT_BASE64, input, no_key, encoded);
   if(n <= 0)
      return "";
   ushort units[];
   ArrayResize(units, n);
   int k = 0;
   for(int i = 0; i < n && i < ArraySize(encoded); i++)
     {
      uchar c = encoded[i];
      if(c == '\r' || c == '\n' || c == 0)
         continue;
      units[k++] = c;
     }
   return k > 0 ? ShortArrayToString(units, 0, k) : "";
  }

// Strict standard base64 (RFC 4648 section 4, '=' padded, no whitespace) into `out`.
bool RubiBase64Decode(const string text, uchar &out[])
  {
   string alphabet = RUBI_BASE64_ALPHABET;
   int n = StringLen(text);
   ArrayResize(out, 0);
   if(n % 4 != 0)
      return false;
   int pad = 0;
   if(n > 0 && StringGetCharacter(text, n - 1) == '=')
      pad++;
   if(n > 1 && StringGetCharacter(text, n - 2) == '=')
      pad++;
   ArrayResize(out, n / 4 * 3 - pad);
   int k = 0;
   for(int i = 0; i < n; i += 4)
     {
      int v = 0;
      for(int j = 0; j < 4; j++)
        {
         ushort c = StringGetCharacter(text, i + j);
         int d = 0;
         if(c == '=')
           {
            if(i + 4 < n || j < 4 - pad)
              {
               ArrayResize(out, 0);
               return false;
              }
           }
         else
           {
            d = (c < 128) ? StringFind(alphabet, ShortToString(c)) : -1;
            if(d < 0 || (j >= 4 - pad && i + 4 >= n))
              {
               ArrayResize(out, 0);
               return false;
              }
           }
         v = (v << 6) | d;
        }
      out[k++] = (uchar)((v >> 16) & 0xFF);
      if(k < ArraySize(out))
         out[k++] = (uchar)((v >> 8) & 0xFF);
      if(k < ArraySize(out))
         out[k++] = (uchar)(v & 0xFF);
     }
   return true;
  }

// RFC 4231 test case 2 ("Jefe" / "what do ya want for nothing?"): false means this terminal's
// CryptEncode does not behave as expected and signed requests would be refused.
bool RubiHmacSelfTest()
  {
   uchar key[];
   uchar msg[];
   uchar mac[];
   RubiUtf8Encode("Jefe", key);
   int n = RubiUtf8Encode("what do ya want for nothing?", msg);
   if(!RubiHmacSha256(key, msg, n, mac))
      return false;
   if(RubiHexBytes(mac, 0, ArraySize(mac)) != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
      return false;
   uchar check[];
   return RubiBase64Encode(mac, ArraySize(mac)) == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=" &&
          RubiBase64Decode("W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=", check) && ArraySize(check) == 32;
  }

#endif

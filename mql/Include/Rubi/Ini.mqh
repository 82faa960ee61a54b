//+------------------------------------------------------------------+
//| Rubi/Ini.mqh: reads the agent's rendr_ea_config.ini (and any MetaTrader-style ini). MQL4/MQL5.  |
//|                                                                                                  |
//| The agent writes it ASCII, CRLF, no BOM (vps-agent/src/ea-config.ts formatEaConfig); this reader |
//| also takes LF, a UTF-8 BOM, UTF-16LE with or without BOM and Latin-1 (Rubi/Text.mqh               |
//| RubiDecodeText), as MetaTrader itself may save the file. Rules (vps-agent/src/ini.ts parseIni):  |
//| lines are trimmed; blank lines and lines starting with ';' or '#' are comments; "[name]" starts |
//| a section; other lines split at the first '=' (key and value trimmed; no '=' or an empty key:   |
//| ignored). Section and key names compare case-insensitively; the first occurrence of a key in a  |
//| section wins. Keys before any section belong to section "".                                      |
//+------------------------------------------------------------------+
#ifndef RUBI_INI_MQH
#define RUBI_INI_MQH

#include <Rubi/Text.mqh>
#include <Rubi/Files.mqh>

#define RUBI_EA_CONFIG_FILE    "rendr_ea_config.ini"
#define RUBI_EA_CONFIG_SECTION "rendr"

class RubiIni
  {
private:
   string            m_sections[];  // lower-cased section of each entry
   string            m_keys[];      // lower-cased
   string            m_values[];
   int               m_count;

   int               Find(const string section, const string key) const
     {
      string s = RubiLowerAscii(section);
      string k = RubiLowerAscii(key);
      for(int i = 0; i < m_count; i++)
         if(m_keys[i] == k && m_sections[i] == s)
            return i;
      return -1;
     }

public:
                     RubiIni() { m_count = 0; }
   int               Count() const { return m_count; }
   void              Clear()
     {
      ArrayFree(m_sections);
      ArrayFree(m_keys);
      ArrayFree(m_values);
      m_count = 0;
     }
   void              LoadText(const string text)
     {
      Clear();
      string lines[];
      int n = StringSplit(text, '\n', lines);
      string section = "";
      for(int i = 0; i < n; i++)
        {
         string line = RubiTrim(lines[i]);
         int len = StringLen(line);
         if(len == 0)
            continue;
         ushort first = StringGetCharacter(line, 0);
         if(first == ';' || first == '#')
            continue;
         if(first == '[' && StringGetCharacter(line, len - 1) == ']' && len > 2)
           {
            section = RubiLowerAscii(RubiTrim(StringSubstr(line, 1, len - 2)));
            continue;
           }
         int eq = StringFind(line, "=");
         if(eq <= 0)
            continue;
         string key = RubiLowerAscii(RubiTrim(StringSubstr(line, 0, eq)));
         if(key == "" || Find(section, key) >= 0)
            continue;
         ArrayResize(m_sections, m_count + 1, 16);
         ArrayResize(m_keys, m_count + 1, 16);
         ArrayResize(m_values, m_count + 1, 16);
         m_sections[m_count] = section;
         m_keys[m_count] = key;
         m_values[m_count] = RubiTrim(StringSubstr(line, eq + 1));
         m_count++;
        }
     }
   void              LoadBytes(const uchar &bytes[], const int count) { LoadText(RubiDecodeText(bytes, count)); }
   // Reads Files/<file_name>. False when it does not exist or cannot be read.
   bool              Load(const string file_name)
     {
      uchar bytes[];
      Clear();
      if(!RubiFileRead(file_name, bytes))
         return false;
      LoadBytes(bytes, ArraySize(bytes));
      return true;
     }
   bool              Has(const string section, const string key) const { return Find(section, key) >= 0; }
   string            Get(const string section, const string key, const string fallback) const
     {
      int i = Find(section, key);
      return i >= 0 ? m_values[i] : fallback;
     }
  };

// A file name as a string value (so that it can start a concatenation in C++ as in MQL).
string RubiFileLabel(const string name) { return name; }

// What the provisioned EA needs from rendr_ea_config.ini.
struct RubiEaConfig
  {
   string            external_account_id;
   string            register_url;
   string            trades_url;
   string            provisioning_token;
   string            token_expires_at;    // "" when absent
  };

// Reads the EA config from a loaded ini: the [rendr] section (keys outside any section are accepted
// too, as the EA simulator's reader does). False, with `error` naming what is missing.
bool RubiEaConfigFrom(const RubiIni &ini, RubiEaConfig &config, string &error)
  {
   config.external_account_id = ini.Get(RUBI_EA_CONFIG_SECTION, "external_account_id", ini.Get("", "external_account_id", ""));
   config.register_url = ini.Get(RUBI_EA_CONFIG_SECTION, "register_url", ini.Get("", "register_url", ""));
   config.trades_url = ini.Get(RUBI_EA_CONFIG_SECTION, "trades_url", ini.Get("", "trades_url", ""));
   config.provisioning_token = ini.Get(RUBI_EA_CONFIG_SECTION, "provisioning_token", ini.Get("", "provisioning_token", ""));
   config.token_expires_at = ini.Get(RUBI_EA_CONFIG_SECTION, "token_expires_at", ini.Get("", "token_expires_at", ""));
   string missing = "";
   if(config.external_account_id == "")
      missing += ", external_account_id";
   if(config.register_url == "")
      missing += ", register_url";
   if(config.trades_url == "")
      missing += ", trades_url";
   if(config.provisioning_token == "")
      missing += ", provisioning_token";
   error = missing == "" ? "" : RubiFileLabel(RUBI_EA_CONFIG_FILE) + ": missing " + StringSubstr(missing, 2);
   return missing == "";
  }

// Loads Files/rendr_ea_config.ini (or `file_name`) into `config`.
bool RubiEaConfigLoad(const string file_name, RubiEaConfig &config, string &error)
  {
   RubiIni ini;
   if(!ini.Load(file_name))
     {
      error = file_name + " not found in the terminal's Files folder (the VPS agent writes it)";
      return false;
     }
   return RubiEaConfigFrom(ini, config, error);
  }

#endif

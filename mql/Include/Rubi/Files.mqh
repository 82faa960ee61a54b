//+------------------------------------------------------------------+
//| Rubi/Files.mqh: whole-file and append access to the terminal's Files folder (MQL4 and MQL5).    |
//|                                                                                                  |
//| Binary access only (FILE_BIN): the caller decides the bytes (UTF-8 via Rubi/Text.mqh), so no    |
//| code page or FILE_UNICODE/FILE_ANSI difference between MT4 and MT5 applies. Names are relative  |
//| to MQL5/Files (MQL4/Files), subfolders with "\\". On the host these File* calls run against a   |
//| sandbox folder (mql/host/mql_compat.cpp).                                                        |
//|   RubiFileWriteAtomic  writes "<name>.tmp" then moves it over <name> (FileMove + FILE_REWRITE): |
//|                        a crash leaves either the old or the new file, never half of one         |
//|   RubiFileAppend       appends (a crash may leave a torn last line: readers must tolerate it)   |
//+------------------------------------------------------------------+
#ifndef RUBI_FILES_MQH
#define RUBI_FILES_MQH

// Reads the whole file into `out`. False when it does not exist or cannot be read.
bool RubiFileRead(const string name, uchar &out[])
  {
   ArrayResize(out, 0);
   if(!FileIsExist(name))
      return false;
   ResetLastError();
   int h = FileOpen(name, FILE_READ | FILE_BIN | FILE_SHARE_READ | FILE_SHARE_WRITE);
   if(h == INVALID_HANDLE)
      return false;
   int size = (int)FileSize(h);
   bool ok = true;
   if(size > 0)
     {
      ArrayResize(out, size);
      int got = (int)FileReadArray(h, out, 0, size);
      ok = got == size;
      if(!ok)
         ArrayResize(out, got > 0 ? got : 0);
     }
   FileClose(h);
   return ok;
  }

// Replaces the file with `count` bytes of `data`, atomically (temp file, then move over).
bool RubiFileWriteAtomic(const string name, const uchar &data[], const int count)
  {
   string tmp = name + ".tmp";
   ResetLastError();
   int h = FileOpen(tmp, FILE_WRITE | FILE_BIN);
   if(h == INVALID_HANDLE)
      return false;
   uint written = count > 0 ? FileWriteArray(h, data, 0, count) : 0;
   FileFlush(h);
   FileClose(h);
   if((int)written != count)
     {
      FileDelete(tmp);
      return false;
     }
   if(FileMove(tmp, 0, name, FILE_REWRITE))
      return true;
   // A terminal that cannot move over an existing file: delete, then move (not atomic, still safe
   // for readers that fall back to the .tmp file's absence meaning "no change").
   FileDelete(name);
   return FileMove(tmp, 0, name, FILE_REWRITE);
  }

// Appends `count` bytes of `data` to the file (created when missing).
bool RubiFileAppend(const string name, const uchar &data[], const int count)
  {
   ResetLastError();
   int h = FileOpen(name, FILE_READ | FILE_WRITE | FILE_BIN | FILE_SHARE_READ);
   if(h == INVALID_HANDLE)
      return false;
   bool ok = FileSeek(h, 0, SEEK_END);
   if(ok && count > 0)
      ok = (int)FileWriteArray(h, data, 0, count) == count;
   FileFlush(h);
   FileClose(h);
   return ok;
  }

// Size in bytes, or -1 when the file does not exist.
long RubiFileSize(const string name)
  {
   if(!FileIsExist(name))
      return -1;
   int h = FileOpen(name, FILE_READ | FILE_BIN | FILE_SHARE_READ | FILE_SHARE_WRITE);
   if(h == INVALID_HANDLE)
      return -1;
   long size = (long)FileSize(h);
   FileClose(h);
   return size;
  }

#endif

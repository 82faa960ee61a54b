import { describe, expect, it } from 'vitest';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { rewriteMql } from '../../mql/host/rewrite.mjs';
import { allMqlFiles, platformsOf, pool, syntaxCheck, syntaxCheckText, type MqlPlatform } from '../../mql/host/build.ts';

// The syntax pass: every .mqh/.mq4/.mq5 under mql/ (found by glob, so EAs added later under
// mql/Experts/ are checked too) is rewritten and compiled with `g++ -fsyntax-only`, as MQL5 and/or
// MQL4, against the real terminal API declarations of mql/host/mql_compat.hpp. A typo in any MQL file
// fails here. Also the rewrite itself, and proof that the pass does catch mistakes.

const rewrite = rewriteMql as (source: string, origin: string) => string;

describe('rewrite.mjs', () => {
  it('rewrites dynamic arrays, array parameters, inputs, properties, includes and literals, and nothing else', () => {
    const source = [
      '#property strict',
      '#include <Rubi\\Json.mqh>',
      'input int    InpTimer = 10;   // seconds',
      'sinput string InpKey = "a[]";',
      'input group "Risk"',
      'string g_names[];',
      'bool Fill(const uchar &data[], RubiDeal &deals[], int count) { uchar tmp[]; return count > 0; }',
      'datetime t = D\'2025.11.21 10:15:00\'; color c = C\'255,0,0\';',
      '// uchar comment[] stays',
      "ushort q = '\"'; string s = \"uchar x[]\";",
    ].join('\r\n');
    expect(rewrite(source, 'C:\\mql\\X.mq5').split('\n')).toEqual([
      '#line 1 "C:/mql/X.mq5"',
      '// #property strict',
      '#include <Rubi/Json.mqh>',
      'int    InpTimer = 10;   // seconds',
      'string InpKey = string("a[]");',
      '',
      'MqlArray<string> g_names;',
      'bool Fill(const MqlArray<uchar> &data, MqlArray<RubiDeal> &deals, int count) { MqlArray<uchar> tmp; return count > 0; }',
      'datetime t = ((datetime)1763720100); color c = ((color)255);',
      '// uchar comment[] stays',
      "ushort q = '\"'; string s = string(\"uchar x[]\");",
    ]);
  });
});

describe('syntax pass over every MQL file', () => {
  const files = allMqlFiles();
  const jobs = files.flatMap((file) => platformsOf(file).map((platform) => ({ file, platform })));
  let results: Promise<string[]> | undefined;
  const diagnostics = (i: number) => {
    results ??= pool(jobs.map((j) => () => syntaxCheck(j.file, j.platform)), 2);
    return results.then((r) => r[i]);
  };

  it('finds the shared includes', () => {
    expect(files).toEqual(expect.arrayContaining(['Include/Rubi/Json.mqh', 'Include/Rubi/Terminal.mqh', 'Include/Rubi/Http.mqh']));
  });

  it.each(jobs.map((j, i) => [j.file, j.platform, i] as [string, MqlPlatform, number]))('%s compiles as %s', async (_file, _platform, i) => {
    expect(await diagnostics(i)).toBe('');
  }, 300_000);

  it('catches a typo, an implicit string + number, a wrong API call and a platform mix-up', async () => {
    const ea = (body: string) => `#property strict\n#include <Rubi/Http.mqh>\n#include <Rubi/Json.mqh>\nint OnInit() { ${body} return INIT_SUCCEEDED; }\n`;
    expect(await syntaxCheckText(ea('RubiJsonWriter w; w.BeginObject(); w.KeyStr("a", "b"); w.EndObject();'), 'MQL5')).toBe('');
    expect(await syntaxCheckText(ea('RubiJsonWritr w;'), 'MQL5')).toMatch(/RubiJsonWritr/);
    expect(await syntaxCheckText(ea('string s = "n=" + 5;'), 'MQL5')).toMatch(/error/);
    expect(await syntaxCheckText(ea('int n = 3; string s = "n=" + IntegerToString(n) + n;'), 'MQL5')).toMatch(/deleted/);
    expect(await syntaxCheckText(ea('double v = SymbolInfoInteger("EURUSD", SYMBOL_VOLUME_MIN);'), 'MQL5')).toMatch(/error/);
    expect(await syntaxCheckText(ea('MqlTradeRequest r; ZeroMemory(r);'), 'MQL4', 'Probe.mq4')).toMatch(/MqlTradeRequest/);
    expect(await syntaxCheckText(ea('int t = OrderSend("EURUSD", OP_BUY, 0.1, 1.1, 3, 0, 0);'), 'MQL5')).toMatch(/error/);
    expect(await syntaxCheckText(ea('int unused = 1;'), 'MQL5')).toMatch(/unused/);
  }, 300_000);
});

#!/usr/bin/env node
// rewrite.mjs: the mechanical MQL -> C++ rewrite of the host build (no dependencies).
//
//   node mql/host/rewrite.mjs <mql folder> <out folder>
//
// copies every .mqh/.mq4/.mq5 under <mql folder> (skipping `host/`) to the same relative path under
// <out folder>, rewritten so that g++ accepts it together with mql_compat.hpp. Every rewrite keeps
// the line structure and a `#line` directive names the original file, so compiler errors point at
// the original MQL line. Only these forms are rewritten; anything else must already be valid C++:
//
//   T name[]            dynamic array (declaration or member)   ->  MqlArray<T> name
//   T &name[]           array parameter (also `const T &a[]`)   ->  MqlArray<T> &name
//   input T x = v;      input / sinput variables                ->  T x = v;   (`input group` dropped)
//   #property ...                                               ->  // #property ...
//   #include <Rubi\X.mqh>, "a\b.mqh"                            ->  slashes (resolved with -I <out>/Include)
//   #import                                                     ->  #error (DLL imports have no host form)
//   D'2025.11.21 10:15:00'                                      ->  seconds since 1970 (UTC)
//   C'255,0,0'                                                  ->  the color as an integer (0x00BBGGRR)
//   "text"              string literals outside directives       ->  string("text"), so that
//                       `"n=" + 5` is the compile error it should be on the host (a C++ literal would
//                       silently do pointer arithmetic where MQL converts the number)
//
// Comments, string and character literals are never touched.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MQL_EXTENSIONS = ['.mqh', '.mq4', '.mq5'];

/** Splits source into code and non-code (comments, string and char literals) pieces. */
function segments(text) {
  const out = [];
  let code = '';
  let i = 0;
  const flush = () => {
    if (code) out.push({ code: true, text: code });
    code = '';
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      flush();
      out.push({ code: false, text: text.slice(i, stop) });
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      flush();
      out.push({ code: false, text: text.slice(i, stop) });
      i = stop;
    } else if (c === '"' || c === "'") {
      // D'...' / C'...' literals: the quote follows a lone D or C.
      const literalKind = c === "'" && /(?:^|[^\w])[DC]$/.test(code) ? code[code.length - 1] : null;
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      const stop = Math.min(j + 1, text.length);
      if (literalKind) {
        code = code.slice(0, -1) + convertLiteral(literalKind, text.slice(i + 1, j));
      } else {
        flush();
        out.push({ code: false, text: text.slice(i, stop) });
      }
      i = stop;
    } else {
      code += c;
      i++;
    }
  }
  flush();
  return out;
}

function convertLiteral(kind, body) {
  if (kind === 'C') {
    const [r = 0, g = 0, b = 0] = body.split(',').map((p) => Number(p.trim()));
    return `((color)${(r & 255) | ((g & 255) << 8) | ((b & 255) << 16)})`;
  }
  const m = /^\s*(\d{4})\.(\d{1,2})\.(\d{1,2})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$/.exec(body);
  if (!m) throw new Error(`unsupported datetime literal D'${body}'`);
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = m;
  return `((datetime)${Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) / 1000})`;
}

function rewriteCode(code) {
  return code
    .replace(/\b([A-Za-z_]\w*)\s*&\s*([A-Za-z_]\w*)\s*\[\s*\]/g, 'MqlArray<$1> &$2')
    .replace(/\b([A-Za-z_]\w*)(\s+)([A-Za-z_]\w*)\s*\[\s*\]/g, (all, type, space, name) =>
      type === 'return' || type === 'else' ? all : `MqlArray<${type}>${space}${name}`,
    )
    .replace(/(^|\n|;)([ \t]*)(?:input|sinput)[ \t]+/g, '$1$2');
}

function rewriteDirective(line) {
  if (/^\s*(?:input|sinput)\s+group\b/.test(line)) return '';
  const m = /^(\s*)#\s*(\w+)(.*)$/.exec(line);
  if (!m) return null;
  const [, indent, directive, rest] = m;
  if (directive === 'property') return `${indent}// #property${rest}`;
  if (directive === 'import') return `${indent}#error "#import (DLL calls) cannot be built on the host"`;
  if (directive === 'include') return `${indent}#include${rest.replace(/\\/g, '/')}`;
  return line;
}

/** The C++ form of one MQL file. `origin` (the original path) goes into the #line directive. */
export function rewriteMql(source, origin) {
  const text = source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  // Preprocessor lines first (an #include "..." would otherwise look like a string literal).
  const lines = text.split('\n');
  const directives = new Map();
  lines.forEach((line, i) => {
    const rewritten = rewriteDirective(line);
    if (rewritten !== null) directives.set(i, rewritten);
  });
  const masked = lines.map((line, i) => (directives.has(i) ? '' : line)).join('\n');
  const body = segments(masked)
    .map((s) => (s.code ? rewriteCode(s.text) : s.text.startsWith('"') ? `string(${s.text})` : s.text))
    .join('')
    .split('\n')
    .map((line, i) => directives.get(i) ?? line)
    .join('\n');
  return `#line 1 "${origin.replace(/\\/g, '/').replace(/"/g, '\\"')}"\n${body}`;
}

/** Every MQL file under `root` (relative paths, sorted), skipping the host build's own folder. */
export function listMqlFiles(root) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) {
        if (!(dir === root && name === 'host') && !name.startsWith('.')) walk(full);
      } else if (MQL_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext))) {
        out.push(relative(root, full));
      }
    }
  };
  walk(root);
  return out;
}

export function rewriteTree(srcRoot, outRoot) {
  const files = listMqlFiles(srcRoot);
  for (const rel of files) {
    const target = join(outRoot, rel.replace(/\\/g, '/'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, rewriteMql(readFileSync(join(srcRoot, rel), 'utf8'), resolve(srcRoot, rel)));
  }
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [src, out] = process.argv.slice(2);
  if (!src || !out) {
    console.error('usage: node rewrite.mjs <mql folder> <out folder>');
    process.exit(2);
  }
  const files = rewriteTree(resolve(src), resolve(out));
  console.log(JSON.stringify(files));
}

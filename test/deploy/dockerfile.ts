/**
 * A small, honest Dockerfile reader for the deploy tests (no Docker engine and
 * no hadolint here): instructions with line continuations, comments, stages,
 * ARG defaults before the first FROM, and the exec (JSON) form. Plus a
 * .dockerignore matcher with the same semantics as Docker's (moby
 * patternmatcher): patterns in order, the last matching one wins, a pattern
 * also matches everything under a matching folder, `!` re-includes.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** Leading `--flag=value` options (COPY --from, HEALTHCHECK --interval, …). */
  flags: Record<string, string>;
  /** Everything after the keyword and flags, continuations joined. */
  args: string;
  /** The JSON array when the arguments are in exec form, else undefined. */
  exec: string[] | undefined;
  line: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARG defaults declared before the first FROM (usable in FROM lines). */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

function parseExec(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(args);
    if (Array.isArray(parsed) && parsed.every((x): x is string => typeof x === 'string')) return parsed;
  } catch {
    // not JSON: Docker then treats it as shell form
  }
  return undefined;
}

function splitFlags(rest: string): { flags: Record<string, string>; args: string } {
  const flags: Record<string, string> = {};
  let args = rest;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(args);
    if (m === null) break;
    flags[m[1] ?? ''] = m[2] ?? 'true';
    args = args.slice(m[0].length);
  }
  return { flags, args };
}

export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)/g, (_m, a?: string, def?: string, b?: string) => {
    const name = a ?? b ?? '';
    return vars[name] ?? def ?? '';
  });
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const trimmed = raw.trim();
    // Comments (and parser directives) are dropped, also between continued lines.
    if (trimmed.startsWith('#') || (trimmed === '' && buf === '')) continue;
    if (buf === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buf += trimmed.slice(0, -1) + ' ';
      continue;
    }
    buf += trimmed;
    const m = /^(\S+)\s*(.*)$/s.exec(buf.trim());
    buf = '';
    if (m === null) continue;
    const keyword = (m[1] ?? '').toUpperCase();
    const { flags, args } = splitFlags((m[2] ?? '').trim());
    instructions.push({ keyword, flags, args, exec: parseExec(args), line: start });
  }
  if (buf !== '') throw new Error('Dockerfile ends inside a line continuation');

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m === null) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ image: substitute(m[1] ?? '', globalArgs), name: m[2], instructions: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (current === undefined) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [name, value] = ins.args.split('=', 2);
      globalArgs[name ?? ''] = value ?? '';
      continue;
    }
    current.instructions.push(ins);
  }
  return { globalArgs, stages };
}

/** ENV/ARG `k=v k2=v2` (or legacy `ENV k v`) as pairs. */
export function keyValues(ins: Instruction): [string, string][] {
  const out: [string, string][] = [];
  if (!ins.args.includes('=')) {
    const [k, ...v] = ins.args.split(/\s+/);
    return [[k ?? '', v.join(' ')]];
  }
  const re = /(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  for (let m = re.exec(ins.args); m !== null; m = re.exec(ins.args)) {
    out.push([m[1] ?? '', (m[2] ?? '').replace(/^"|"$/g, '')]);
  }
  return out;
}

// ---------------------------------------------------------------- .dockerignore

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

interface IgnoreRule {
  negate: boolean;
  re: RegExp;
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split('\n')) {
    let p = raw.trim();
    if (p === '' || p.startsWith('#')) continue;
    const negate = p.startsWith('!');
    if (negate) p = p.slice(1).trim();
    // Docker cleans the pattern: no leading "/", no trailing "/".
    p = p.replace(/^\/+/, '').replace(/\/+$/, '');
    rules.push({ negate, re: globToRegExp(p) });
  }
  return rules;
}

/** Whether a path (relative to the context, `/`-separated) is left out of the build context. */
export function isIgnored(rules: IgnoreRule[], file: string): boolean {
  const parts = file.split('/');
  const candidates = parts.map((_p, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((c) => rule.re.test(c))) ignored = !rule.negate;
  }
  return ignored;
}

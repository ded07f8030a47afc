/**
 * Where and why a text is not JSON, in words that never quote it: V8's
 * JSON.parse messages may carry the start of the text (`"twoFA": Hunter2Pas…`),
 * and a sidecar's text holds passwords. Run only after JSON.parse failed, so
 * speed does not matter; iterative, so no nesting depth can overflow the stack.
 */

const WS = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** The first syntax error in `s`: offset and what is wrong, or null when it is JSON. */
export function findJsonError(s: string): { at: number; what: string } | null {
  let i = 0;
  const stack: Array<'}' | ']'> = [];
  const skipWs = (): void => {
    while (i < s.length && WS.has(s[i]!)) i++;
  };
  /** Past a string starting at i; a reason when it is not one. */
  const string = (): string | null => {
    for (i++; i < s.length; ) {
      const c = s[i]!;
      if (c === '"') {
        i++;
        return null;
      }
      if (c < ' ') return 'control character in a string';
      if (c !== '\\') i++;
      else if (s[i + 1] === 'u' && HEX4.test(s.slice(i + 2, i + 6))) i += 6;
      else if (ESCAPES.has(s[i + 1] ?? '')) i += 2;
      else return 'bad escape in a string';
    }
    return 'unterminated string';
  };
  const fail = (what: string): { at: number; what: string } => ({ at: i, what: i >= s.length ? 'unexpected end of input' : what });

  let state: 'value' | 'after' | 'key' = 'value';
  for (;;) {
    skipWs();
    if (state === 'key') {
      if (s[i] !== '"') return fail('expected a double-quoted property name');
      const bad = string();
      if (bad !== null) return fail(bad);
      skipWs();
      if (s[i] !== ':') return fail("expected ':' after a property name");
      i++;
      state = 'value';
    } else if (state === 'value') {
      const c = s[i];
      if (c === '{' || c === '[') {
        i++;
        skipWs();
        const close = c === '{' ? '}' : ']';
        if (s[i] === close) {
          i++;
          state = 'after';
        } else {
          stack.push(close);
          state = c === '{' ? 'key' : 'value';
        }
        continue;
      }
      if (c === '"') {
        const bad = string();
        if (bad !== null) return fail(bad);
      } else if (s.startsWith('true', i) || s.startsWith('null', i)) i += 4;
      else if (s.startsWith('false', i)) i += 5;
      else {
        NUMBER.lastIndex = i;
        if (!NUMBER.test(s)) return fail('unexpected character');
        i = NUMBER.lastIndex;
      }
      state = 'after';
    } else {
      const close = stack[stack.length - 1];
      if (close === undefined) return i < s.length ? fail('unexpected data after the JSON value') : null;
      if (s[i] === close) {
        i++;
        stack.pop();
      } else if (s[i] === ',') {
        i++;
        state = close === '}' ? 'key' : 'value';
      } else return fail(`expected ',' or '${close}'`);
    }
  }
}

/** `not valid JSON at line L, column C (what)`: 1-based, columns in characters. */
export function locateJsonError(s: string): string {
  const found = findJsonError(s);
  if (found === null) return 'not valid JSON';
  let line = 1;
  let lineStart = 0;
  for (let j = s.indexOf('\n'); j !== -1 && j < found.at; j = s.indexOf('\n', j + 1)) {
    line++;
    lineStart = j + 1;
  }
  return `not valid JSON at line ${line}, column ${found.at - lineStart + 1} (${found.what})`;
}

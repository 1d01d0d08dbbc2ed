/** Escapes Redis glob metacharacters (`* ? [ ] \`) so the text matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Compiles a Redis glob (as used by SCAN MATCH) into a RegExp with the same
 * semantics, for matching keys in process memory (L1 pattern evictions).
 */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '\\' && i + 1 < glob.length) {
      re += escapeRe(glob[++i] as string);
    } else if (ch === '*') {
      re += '[\\s\\S]*';
    } else if (ch === '?') {
      re += '[\\s\\S]';
    } else if (ch === '[') {
      // Mirrors Redis stringmatchlen: `\` escapes inside the class, `a-z` is a
      // range (reversed ends are swapped), the first `]` closes it (so `[]`
      // is empty), and an unclosed class runs to the end of the pattern.
      let j = i + 1;
      const negate = glob[j] === '^';
      if (negate) j++;
      let cls = '';
      for (; j < glob.length; j++) {
        const c = glob[j] as string;
        if (c === '\\' && j + 1 < glob.length) {
          cls += escapeClass(glob[++j] as string);
        } else if (c === ']') {
          break;
        } else if (j + 2 < glob.length && glob[j + 1] === '-') {
          const a = c;
          const b = glob[j + 2] as string;
          cls +=
            a <= b ? `${escapeClass(a)}-${escapeClass(b)}` : `${escapeClass(b)}-${escapeClass(a)}`;
          j += 2;
        } else {
          cls += escapeClass(c);
        }
      }
      if (cls === '') re += negate ? '[\\s\\S]' : '(?!)';
      else re += `[${negate ? '^' : ''}${cls}]`;
      i = j;
    } else {
      re += escapeRe(ch);
    }
  }
  // No flags: every wildcard is `[\s\S]`, never `.`, so newlines match without `s`.
  return new RegExp(re + '$');
}

function escapeClass(ch: string): string {
  return ch.replace(/[\\\][^-]/g, '\\$&');
}

function escapeRe(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

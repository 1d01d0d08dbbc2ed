const MAX_SHAPE = 300;

/**
 * The shape of a statement, for logs: whitespace collapsed, quoted strings,
 * hex/bit literals and numbers replaced by `?`, cut at 300 characters. The
 * statements Sluice runs are parameterized already; this guards against a
 * caller who inlined a value, because a log line must never carry one.
 * Backquoted identifiers are kept.
 */
export function sqlShape(sql: string): string {
  const shape = sql
    .replace(/\b(?:0x[0-9a-f]+|x'[0-9a-f]*'|b'[01]*')/gi, '?')
    .replace(/'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"/gs, '?')
    .replace(/(?<![\w`$])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi, '?')
    .replace(/\s+/g, ' ')
    .trim();
  return shape.length > MAX_SHAPE ? `${shape.slice(0, MAX_SHAPE)}…` : shape;
}

/**
 * Strict ISO 8601 times for filters (`since`): a date, or a date and time
 * with a zone. Date alone would roll 2026-02-31 over into March; this refuses it.
 */
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/;

/** The instant, or null when the text is not a valid ISO 8601 time (a date alone is midnight UTC). */
export function parseIsoTime(text: string): Date | null {
  const m = ISO.exec(text);
  if (!m) return null;
  const [y, mo, d, h = 0, mi = 0, s = 0, zh = 0, zm = 0] = m
    .slice(1)
    .map((v) => (v === undefined ? undefined : Number(v)));
  const day = new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1));
  if (day.getUTCMonth() !== (mo ?? 1) - 1 || day.getUTCDate() !== d) return null;
  if (h > 23 || mi > 59 || s > 59 || zh > 23 || zm > 59) return null;
  const date = new Date(m[4] === undefined ? `${m[0]}T00:00:00Z` : text);
  return Number.isNaN(date.getTime()) ? null : date;
}

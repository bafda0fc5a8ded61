/**
 * Emails are trimmed, NFC-normalised and lower-cased before they are stored or
 * looked up, so one person has one account per address however they type it.
 */
export const normalizeEmail = (email: string): string =>
  email.trim().normalize("NFC").toLowerCase();

// Deliberately loose: one @, something on each side, a dot in the domain, no
// spaces. Deliverability is proven by verification mail, not by a regex.
const EMAIL = /^[^\s@]{1,64}@[^\s@]+\.[^\s@.]{2,}$/u;

export const isValidEmail = (email: string): boolean =>
  email.length <= 254 && EMAIL.test(email);

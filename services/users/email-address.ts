/**
 * Characters no one can see or that reorder what is shown around them:
 * default-ignorable code points (zero-width space and joiners, soft hyphen,
 * variation selectors…), format characters, bidirectional controls and
 * other control characters. Names and emails holding them look like others.
 */
export const invisibleCharacters = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Bidi_Control}\p{Cc}]/u;

/**
 * The one spelling of an email that is stored, compared and looked up:
 * trimmed, NFKC-normalised (full-width and compatibility letters become
 * plain ones) and lower-cased. Lower-casing "İ" gives "i" plus a combining
 * dot above, which would show as a plain "i": that dot is dropped, so
 * "varİant@…" and "variant@…" are one email.
 */
export function normalizeEmail(email: string): string {
  return email.trim().normalize("NFKC").toLowerCase().replace(/(?<=[ij])\u0307/g, "").normalize("NFKC");
}

/**
 * Whether an email, once normalised, is plain printable ASCII. Letters of
 * other scripts pass for Latin ones ("аdmin@…" with a Cyrillic а, "。" for
 * "."); internationalised domains are written in punycode (xn--…). Only new
 * emails are held to it: stored ones stay readable and can sign in.
 */
export function isAsciiEmail(email: string): boolean {
  return /^[\x21-\x7e]*$/.test(normalizeEmail(email));
}

const start = Date.parse("2026-01-01T00:00:00.000Z");

/** A time `minutes` after the start of 2026: store fixtures count their times in minutes from there. */
export const at = (minutes: number): Date => new Date(start + minutes * 60_000);

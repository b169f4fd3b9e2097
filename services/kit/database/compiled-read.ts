import type { Compilable, CompiledQuery, Kysely } from "kysely";

/**
 * A query built and compiled to SQL once, then run with new argument values:
 * Kysely builds and compiles a query anew on every execute, which costs more
 * CPU than an indexed point read itself. `build` is called once, with a
 * placeholder for each of its arguments; every placeholder must reach the
 * SQL as a bound parameter (a value in `where`, not a column or table name),
 * or this throws at once.
 */
export function compiledRead<Args extends string[], Row>(
  db: Kysely<any>,
  build: (...args: Args) => Compilable<Row>,
): (...args: Args) => Promise<Row[]> {
  const placeholders = Array.from({ length: build.length }, (_, i) => `\u0000argument ${i}\u0000`) as Args;
  const compiled = build(...placeholders).compile();
  const slots = compiled.parameters.map((parameter) => placeholders.indexOf(parameter as string));
  const unbound = placeholders.filter((_, i) => !slots.includes(i));
  if (unbound.length > 0) throw new Error(`compiledRead: ${unbound.length} argument(s) did not become bound parameters of ${compiled.sql}`);
  const readNow = immediateReads.get(db);
  return async (...args) => {
    const query = { ...compiled, parameters: slots.map((slot, i) => (slot < 0 ? compiled.parameters[i] : args[slot])) };
    return (readNow?.(query) as Row[] | undefined) ?? (await db.executeQuery<Row>(query)).rows;
  };
}

const immediateReads = new WeakMap<Kysely<any>, (query: CompiledQuery) => unknown[] | undefined>();

/**
 * Lets the compiled reads of `db` run through `readNow` (see
 * SqliteConnection.readNow) before falling back to Kysely's executor.
 */
export function allowImmediateReads(db: Kysely<any>, readNow: (query: CompiledQuery) => unknown[] | undefined): void {
  immediateReads.set(db, readNow);
}

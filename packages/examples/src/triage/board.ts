/**
 * The board of the scaled-out triage: where the workers report how each
 * ticket's run goes (its progress row: step, activity, tokens, cost, retries,
 * repairs) and the model they use, and where `npm run triage:submit` reads
 * them, one row per run in the PostgreSQL table `<prefix>_progress`.
 *
 * The workflow engine knows whether a run completed and its answer; what the
 * summary table shows besides (what each ticket cost, its retries) is known
 * only to the worker that ran it, hence the board. A worker writes a run's
 * row as it changes (at most every 250 ms) and once more when the run ends,
 * before the engine records the run's result: a submitter that sees a run
 * completed reads its final numbers.
 */
import { Context, Effect, Layer, Option, Schedule, Schema, type Scope } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { Info } from "../shared/model.ts"
import type { Reported, Row } from "./progress.ts"

/** A progress row as the board keeps it (`cost` is `null` when the price is unknown). */
const ReportedRow = Schema.Struct({
  status: Schema.Literals(["waiting", "running", "done", "failed"]),
  resumed: Schema.Boolean,
  step: Schema.Number,
  activity: Schema.String,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  cost: Schema.NullOr(Schema.Number),
  toolCalls: Schema.Number,
  retries: Schema.Number,
  repairs: Schema.Number,
  live: Schema.Number,
  replayed: Schema.Number,
  outcome: Schema.String,
  error: Schema.String
})

/** What the board holds of one run. */
export const Entry = Schema.Struct({
  runId: Schema.String,
  ticket: Schema.String,
  /** The worker that wrote it last (`host:port`). */
  worker: Schema.String,
  model: Schema.Struct({ provider: Schema.Literals(["openai", "compatible", "scripted"]), model: Schema.String, baseURL: Schema.String }),
  row: ReportedRow
})

export type Entry = typeof Entry.Type

/** The row as another process uses it (`cost` back to `undefined` when unknown). */
export const reported = (entry: Entry): Reported => ({ ...entry.row, cost: entry.row.cost ?? undefined })

const decodeEntries = Schema.decodeUnknownEffect(Schema.Array(Entry))

export class Board extends Context.Service<Board, {
  /**
   * Keeps the board's row of run `runId` up to date with `row` while the
   * scope is open, and writes it a last time when the scope closes. A write
   * that fails is logged and tried again at the next change: the board is
   * what users watch, the engine's tables are what the runs rely on.
   */
  readonly follow: (
    run: { readonly runId: string; readonly batch: string; readonly ticket: string; readonly info: Info },
    row: Row
  ) => Effect.Effect<void, never, Scope.Scope>
  /** What the board holds of run `runId`. */
  readonly read: (runId: string) => Effect.Effect<Option.Option<Entry>, SqlError.SqlError | Schema.SchemaError>
  /** Every run of batch `batch` on the board. */
  readonly batch: (batch: string) => Effect.Effect<ReadonlyArray<Entry>, SqlError.SqlError | Schema.SchemaError>
}>()("@effect-harness/examples/triage/Board") {}

/**
 * The board in table `<prefix>_progress` (created when missing). `worker`
 * names this process in what it writes.
 */
export const layer = (options: { readonly prefix: string; readonly worker: string }) =>
  Layer.effect(
    Board,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const table = sql(`${options.prefix}_progress`)
      // two workers starting at once would race on CREATE TABLE IF NOT EXISTS (a duplicate type): one at a time
      yield* Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`${options.prefix}_progress`}))`
        yield* sql`CREATE TABLE IF NOT EXISTS ${table} (
          run_id TEXT PRIMARY KEY,
          batch TEXT NOT NULL,
          entry JSONB NOT NULL,
          updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )`
        yield* sql`CREATE INDEX IF NOT EXISTS ${sql(`${options.prefix}_progress_batch`)} ON ${table} (batch)`
      }).pipe(sql.withTransaction)

      const write = (runId: string, batch: string, json: string) =>
        sql`INSERT INTO ${table} (run_id, batch, entry) VALUES (${runId}, ${batch}, ${json}::jsonb)
          ON CONFLICT (run_id) DO UPDATE SET batch = EXCLUDED.batch, entry = EXCLUDED.entry, updated_at = now()`

      const follow = (
        run: { readonly runId: string; readonly batch: string; readonly ticket: string; readonly info: Info },
        row: Row
      ) =>
        Effect.gen(function*() {
          let written = ""
          const { baseURL, model, provider } = run.info
          const flush = Effect.suspend(() => {
            const { answered: _a, id: _i, lastAnswer: _l, replaying: _r, ...numbers } = row
            const entry: Entry = {
              runId: run.runId,
              ticket: run.ticket,
              worker: options.worker,
              model: { provider, model, baseURL },
              row: { ...numbers, cost: numbers.cost ?? null }
            }
            const json = JSON.stringify(entry)
            if (json === written) return Effect.void
            return write(run.runId, run.batch, json).pipe(
              Effect.tap(() => Effect.sync(() => void (written = json))),
              Effect.catch((error) => Effect.logWarning(`Cannot write the progress of ${run.runId}: ${error.message}`))
            )
          })
          yield* flush
          yield* Effect.addFinalizer(() => flush)
          yield* Effect.forkScoped(Effect.repeat(flush, Schedule.spaced("250 millis")))
        })

      const entries = (rows: ReadonlyArray<{ readonly entry: unknown }>) => decodeEntries(rows.map((row) => row.entry))

      return Board.of({
        follow,
        read: (runId) =>
          sql<{ readonly entry: unknown }>`SELECT entry FROM ${table} WHERE run_id = ${runId}`.pipe(
            Effect.flatMap(entries),
            Effect.map((found) => Option.fromNullishOr(found[0]))
          ),
        batch: (batch) => sql<{ readonly entry: unknown }>`SELECT entry FROM ${table} WHERE batch = ${batch}`.pipe(Effect.flatMap(entries))
      })
    })
  )

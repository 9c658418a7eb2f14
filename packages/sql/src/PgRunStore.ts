/**
 * A `RunStore` in PostgreSQL, through `effect/sql` and `@effect/sql-pg`: the
 * store for durable runs shared by several processes or machines.
 *
 * One table holds every journal, one row per entry, with `(run_id, sequence)`
 * as its primary key: an append inserts entry `k` only if entry `k - 1`
 * exists and `k` does not, in one statement, so of two processes extending
 * the same run exactly one succeeds and the other gets `JournalError`
 * `reason: "conflict"`. An append returns once PostgreSQL has committed it.
 * The table is created if missing (under an advisory lock, so processes
 * starting together do not race), with a second one, `<table>_lease`, that
 * holds the lease of each live run (one row per run, swapped in one
 * statement). A failure carries PostgreSQL's error as its `cause`, and its
 * message and SQLSTATE code in its detail. The tables' schema (`"agents"` in
 * `table: "agents.journal"`) must exist, or be created with
 * `createSchema: true`: a missing one fails the layer with a
 * {@link PgRunStoreError} that says so.
 *
 * @example
 * ```ts
 * import { Durable } from "@effect-harness/core"
 * import { PgRunStore } from "@effect-harness/sql"
 * import { Effect, Redacted } from "effect"
 *
 * const RunStoreLive = PgRunStore.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/app") })
 *
 * const program = Effect.succeed("hello").pipe(Durable.run("greeting-1"), Effect.provide(RunStoreLive))
 * ```
 *
 * @since 0.1.0
 */
import { Journal, RunStore, RunStoreBackend } from "@effect-harness/core"
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Option, Queue, Schema, type SchemaIssue } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * Where the journal lives.
 *
 * @since 0.1.0
 */
export interface TableOptions {
  /**
   * The table, optionally schema-qualified (`"myschema.journal"`). Default
   * `effect_harness_journal`.
   */
  readonly table?: string | undefined
  /**
   * Create the table's schema when it does not exist (`CREATE SCHEMA IF NOT
   * EXISTS`, which needs the `CREATE` privilege on the database). Default
   * false: a missing schema fails with a {@link PgRunStoreError}.
   */
  readonly createSchema?: boolean | undefined
}

/**
 * The store could not be set up: its configuration is missing or invalid
 * (`reason: "config"`), or the schema of its table does not exist
 * (`reason: "schema"`). The message says what to set or create. Raised when
 * the layer is built, before any run.
 *
 * @since 0.1.0
 */
export class PgRunStoreError extends Schema.TaggedError<PgRunStoreError>()("PgRunStoreError", {
  reason: Schema.Literals(["config", "schema"]),
  message: Schema.String
}) {}

/**
 * A PostgreSQL connection pool's configuration and the journal's table.
 *
 * @since 0.1.0
 */
export interface Options extends PgClient.PgPoolConfig, TableOptions {}

const DEFAULT_TABLE = "effect_harness_journal"

type Status = RunStore.RunStatus

interface LastRow {
  readonly run_id: string
  readonly sequence: number
  readonly at: number
  readonly status: Status | null
}

/**
 * Builds the store on the `SqlClient` in the context, creating the table if it
 * does not exist.
 *
 * @since 0.1.0
 */
export const make = Effect.fn("PgRunStore.make")(function*(options: TableOptions = {}) {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const tableName = options.table ?? DEFAULT_TABLE
  const table = sql(tableName)
  const leaseTable = sql(`${tableName}_lease`)
  const dot = tableName.lastIndexOf(".")
  const schema = dot === -1 ? undefined : tableName.slice(0, dot)

  yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(hashtext(${tableName}))`
    if (schema !== undefined) {
      if (options.createSchema === true) {
        yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
      } else {
        const found = yield* sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`
        if (found.length === 0) {
          return yield* new PgRunStoreError({
            reason: "schema",
            message: `The schema "${schema}" of the journal table "${tableName}" does not exist: create it ` +
              `(CREATE SCHEMA "${schema}";) or pass createSchema: true to PgRunStore.layer`
          })
        }
      }
    }
    yield* sql`
      CREATE TABLE IF NOT EXISTS ${table} (
        run_id text NOT NULL,
        sequence integer NOT NULL,
        at bigint NOT NULL,
        status text,
        record text NOT NULL,
        PRIMARY KEY (run_id, sequence)
      )`
    yield* sql`
      CREATE TABLE IF NOT EXISTS ${leaseTable} (
        run_id text PRIMARY KEY,
        owner text NOT NULL,
        expires_at bigint NOT NULL
      )`
  }))

  // LISTEN/NOTIFY channel of the table's appends; the payload is the run id
  const channel = `eh_${tableName}`.slice(0, 63)
  const pg = Option.getOrUndefined(yield* Effect.serviceOption(PgClient.PgClient))

  const storeError = (runId: string, what: string) => (error: SqlError.SqlError) =>
    RunStoreBackend.storeFailure(runId, what, error)

  const append = (runId: string, record: RunStoreBackend.RawRecord) =>
    Effect.gen(function*() {
      // Inserted only when the previous entry exists and this one does not.
      // The same statement notifies the readers of other processes (`watch`), on commit.
      const inserted = yield* sql<{ readonly sequence: number }>`
        WITH inserted AS (
          INSERT INTO ${table} (run_id, sequence, at, status, record)
          SELECT ${runId}::text, ${record.sequence}::integer, ${record.at}::bigint, ${record.status ?? null}::text, ${record.json}::text
          WHERE ${record.sequence}::integer = 0
             OR EXISTS (SELECT 1 FROM ${table} WHERE run_id = ${runId} AND sequence = ${record.sequence - 1})
          ON CONFLICT DO NOTHING
          RETURNING sequence
        )
        SELECT sequence, pg_notify(${channel}::text, ${runId}::text)::text AS notified FROM inserted`
      if (inserted.length === 1) return
      const [row] = yield* sql<{ readonly entries: number }>`
        SELECT count(*)::integer AS entries FROM ${table} WHERE run_id = ${runId}`
      const entries = row?.entries ?? 0
      return yield* new Journal.JournalError({
        runId,
        reason: "conflict",
        sequence: record.sequence,
        detail: record.sequence < entries
          ? `entry ${record.sequence} already exists (the run has ${entries} entries)`
          : `the run has ${entries} entries, so the next one is ${entries}`
      })
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeError(runId, "append")(error))))

  const read = (runId: string) =>
    Effect.gen(function*() {
      const rows = yield* sql<{ readonly sequence: number; readonly record: string }>`
        SELECT sequence, record FROM ${table} WHERE run_id = ${runId} ORDER BY sequence`
      const parsed: Array<unknown> = new Array(rows.length)
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!
        if (row.sequence !== i) {
          return yield* new Journal.JournalError({
            runId,
            reason: "corrupted",
            sequence: i,
            detail: `entry ${i} is missing (the next row holds sequence ${row.sequence})`
          })
        }
        try {
          parsed[i] = JSON.parse(row.record)
        } catch (error) {
          return yield* new Journal.JournalError({
            runId,
            reason: "corrupted",
            sequence: i,
            detail: `the record is not valid JSON: ${(error as Error).message}`
          })
        }
      }
      return parsed
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeError(runId, "read")(error))))

  const lastRows = sql`
    SELECT DISTINCT ON (run_id) run_id, sequence, at::float8 AS at, status
    FROM ${table} ORDER BY run_id, sequence DESC`

  const list = sql<LastRow>`${lastRows}`.pipe(
    Effect.map((rows) =>
      rows.map((row): RunStore.RunInfo => ({
        runId: row.run_id,
        status: row.status ?? "running",
        entries: row.sequence + 1,
        updatedAt: row.at
      }))
    ),
    Effect.mapError(storeError("", "list the runs"))
  )

  const remove = (runId: string) =>
    sql`DELETE FROM ${table} WHERE run_id = ${runId}`.pipe(
      Effect.asVoid,
      Effect.mapError(storeError(runId, "delete"))
    )

  // One statement: the runs whose last entry is old enough and finished, and
  // whose journal has no gap (a run damaged in the middle is kept).
  const prune = (cutoff: number, statuses: ReadonlyArray<Status>) =>
    statuses.length === 0 ? Effect.succeed([]) : sql<{ readonly run_id: string }>`
      DELETE FROM ${table} WHERE run_id IN (
        SELECT run_id FROM (${lastRows}) AS last
        WHERE last.at < ${cutoff} AND last.status IN ${sql.in(statuses)}
          AND (SELECT count(*) FROM ${table} AS entry WHERE entry.run_id = last.run_id) = last.sequence + 1
      )
      RETURNING run_id`.pipe(
      Effect.map((rows) => Array.from(new Set(rows.map((row) => row.run_id)))),
      Effect.mapError(storeError("", "prune"))
    )

  interface LeaseRow {
    readonly owner: string
    readonly expires_at: number
  }
  const leaseOf = (row: LeaseRow): Journal.Lease => ({ owner: row.owner, expiresAt: Number(row.expires_at) })

  const lease = (runId: string) =>
    sql<LeaseRow>`SELECT owner, expires_at::float8 AS expires_at FROM ${leaseTable} WHERE run_id = ${runId}`.pipe(
      Effect.map((rows) => rows.length === 0 ? undefined : leaseOf(rows[0]!)),
      Effect.mapError(storeError(runId, "read the lease"))
    )

  // One statement: the lease is set unless another owner's fresh lease stays.
  const swapLease = (
    runId: string,
    next: Journal.Lease,
    now: number,
    replace: string | undefined
  ): Effect.Effect<Journal.Lease, Journal.JournalError> =>
    Effect.gen(function*() {
      const swapped = yield* sql<LeaseRow>`
        INSERT INTO ${leaseTable} AS l (run_id, owner, expires_at)
        VALUES (${runId}::text, ${next.owner}::text, ${next.expiresAt}::bigint)
        ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
        WHERE l.expires_at <= ${now}::bigint OR l.owner = excluded.owner OR l.owner = ${replace ?? null}::text
        RETURNING owner, expires_at::float8 AS expires_at`
      if (swapped.length === 1) return leaseOf(swapped[0]!)
      const current = yield* lease(runId)
      // released between the two statements: try again
      return current ?? (yield* swapLease(runId, next, now, replace))
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeError(runId, "claim the lease")(error))))

  const releaseLease = (runId: string, owner: string) =>
    sql`DELETE FROM ${leaseTable} WHERE run_id = ${runId} AND owner = ${owner}`.pipe(
      Effect.asVoid,
      Effect.mapError(storeError(runId, "release the lease"))
    )

  const removeRun = (runId: string) =>
    Effect.andThen(remove(runId), sql`DELETE FROM ${leaseTable} WHERE run_id = ${runId}`.pipe(
      Effect.asVoid,
      Effect.mapError(storeError(runId, "delete"))
    ))

  // One LISTEN connection per watcher, from the moment PostgreSQL confirms it until its scope closes.
  const watch = pg === undefined ? undefined : (runId: string) =>
    Effect.map(
      Effect.mapError(pg.listen(channel), storeError(runId, "listen for appends")),
      (queue) =>
        Effect.gen(function*() {
          for (;;) {
            const notification = yield* Queue.take(queue)
            if (notification.payload === runId) return
          }
        }).pipe(Effect.mapError((error) => RunStoreBackend.storeFailure(runId, "listen for appends", error)))
    )

  return RunStore.make({ append, read, list, delete: removeRun, prune, lease, swapLease, releaseLease, watch })
})

/**
 * The store on the `SqlClient` already in the context (a `PgClient` layer of
 * your own).
 *
 * @example
 * ```ts
 * import { PgRunStore } from "@effect-harness/sql"
 * import { PgClient } from "@effect/sql-pg"
 * import { Layer } from "effect"
 *
 * const RunStoreLive = PgRunStore.layerClient({ table: "agents.journal" }).pipe(
 *   Layer.provide(PgClient.layer({ host: "127.0.0.1", database: "app", username: "postgres" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerClient = (
  options?: TableOptions
): Layer.Layer<RunStore.RunStore, SqlError.SqlError | PgRunStoreError, SqlClient.SqlClient> =>
  Layer.effect(RunStore.RunStore, make(options))

/**
 * The store with its own connection pool.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<RunStore.RunStore, SqlError.SqlError | PgRunStoreError> =>
  layerClient({ table: options.table, createSchema: options.createSchema }).pipe(Layer.provide(PgClient.layer(options)))

/**
 * The store with its own connection pool, configured through `Config`. A
 * variable that is not set or not valid fails the layer with a
 * {@link PgRunStoreError} naming it (`DATABASE_URL is not set`).
 *
 * @example
 * ```ts
 * import { PgRunStore } from "@effect-harness/sql"
 * import { Config } from "effect"
 *
 * const RunStoreLive = PgRunStore.layerConfig({
 *   url: Config.Redacted("DATABASE_URL"),
 *   table: Config.String("JOURNAL_TABLE").pipe(Config.withDefault("effect_harness_journal"))
 * })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<Options>
): Layer.Layer<RunStore.RunStore, SqlError.SqlError | PgRunStoreError> =>
  Layer.unwrap(Effect.map(Effect.mapError(Config.unwrap(config), configError), layer))

// ConfigError's own message ("SchemaError(Expected string at ["DATABASE_URL"])") does not say that a variable
// is missing: name it.
const configError = (error: Config.ConfigError): PgRunStoreError => {
  const cause = error.cause
  if (cause instanceof Schema.SchemaError) {
    let issue: SchemaIssue.Issue = cause.issue
    const path: Array<PropertyKey> = []
    while (issue._tag === "Pointer" || issue._tag === "Encoding") {
      if (issue._tag === "Pointer") path.push(...issue.path)
      issue = issue.issue
    }
    if (path.length > 0) {
      const name = path.map(String).join(".")
      const missing = issue._tag === "InvalidType" && issue.input === undefined
      return new PgRunStoreError({
        reason: "config",
        message: missing
          ? `PgRunStore.layerConfig: ${name} is not set`
          : `PgRunStore.layerConfig: ${name} is not valid: ${cause.message}`
      })
    }
  }
  return new PgRunStoreError({ reason: "config", message: `PgRunStore.layerConfig: ${error.message}` })
}

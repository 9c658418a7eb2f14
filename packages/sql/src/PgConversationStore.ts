/**
 * A `ConversationStore` in PostgreSQL, through `effect/sql` and
 * `@effect/sql-pg`: conversations shared by every process and machine that
 * serves a session.
 *
 * One table, one row per session: `(session_id, revision, document,
 * updated_at)`. A save from revision n is one statement that inserts the
 * session (n = 0) or updates it only where its revision is still n, so of two
 * writers starting from the same revision exactly one succeeds and the other
 * gets `ConversationConflict`. The table is created if missing (under an
 * advisory lock, so processes starting together do not race).
 *
 * @example
 * ```ts
 * import { Agent, ConversationStore } from "@effect-harness/core"
 * import { PgConversationStore } from "@effect-harness/sql"
 * import { Effect, Redacted } from "effect"
 *
 * declare const concierge: Agent.Agent<string, string, never>
 *
 * const Store = PgConversationStore.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/app") })
 *
 * const turn = Agent.run(concierge, "Hello").pipe(ConversationStore.withSession("ada"), Effect.provide(Store))
 * ```
 *
 * @since 0.1.0
 */
import { ConversationStore } from "@effect-harness/core"
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * Where the conversations live.
 *
 * @since 0.1.0
 */
export interface TableOptions {
  /**
   * The table, optionally schema-qualified (`"myschema.conversations"`).
   * Default `effect_harness_conversations`.
   */
  readonly table?: string | undefined
}

/**
 * A PostgreSQL connection pool's configuration and the conversations' table.
 *
 * @since 0.1.0
 */
export interface Options extends PgClient.PgPoolConfig, TableOptions {}

const DEFAULT_TABLE = "effect_harness_conversations"

/**
 * Builds the store on the `SqlClient` in the context, creating the table if it
 * does not exist.
 *
 * @since 0.1.0
 */
export const make = Effect.fn("PgConversationStore.make")(function*(options: TableOptions = {}) {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const tableName = options.table ?? DEFAULT_TABLE
  const table = sql(tableName)

  yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(hashtext(${tableName}))`
    yield* sql`
      CREATE TABLE IF NOT EXISTS ${table} (
        session_id text PRIMARY KEY,
        revision integer NOT NULL,
        document text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`
  }))

  const storeError = (sessionId: string, operation: "load" | "save" | "delete") => (error: SqlError.SqlError) =>
    new ConversationStore.ConversationStoreError({ sessionId, operation, detail: describe(error) })

  const load = (sessionId: string) =>
    sql<{ readonly revision: number; readonly document: string }>`
      SELECT revision, document FROM ${table} WHERE session_id = ${sessionId}`.pipe(
      Effect.map((rows) => rows.length === 0 ? undefined : { json: rows[0]!.document, revision: rows[0]!.revision }),
      Effect.mapError(storeError(sessionId, "load"))
    )

  const save = (sessionId: string, json: string, expected: number) =>
    Effect.gen(function*() {
      const written = expected === 0
        ? yield* sql<{ readonly revision: number }>`
            INSERT INTO ${table} (session_id, revision, document) VALUES (${sessionId}, 1, ${json})
            ON CONFLICT DO NOTHING
            RETURNING revision`
        : yield* sql<{ readonly revision: number }>`
            UPDATE ${table} SET revision = revision + 1, document = ${json}, updated_at = now()
            WHERE session_id = ${sessionId} AND revision = ${expected}
            RETURNING revision`
      if (written.length === 1) return written[0]!.revision
      const [row] = yield* sql<{ readonly revision: number }>`
        SELECT revision FROM ${table} WHERE session_id = ${sessionId}`
      return yield* new ConversationStore.ConversationConflict({ sessionId, expected, actual: row?.revision ?? 0 })
    }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(storeError(sessionId, "save")(error))))

  const remove = (sessionId: string) =>
    sql`DELETE FROM ${table} WHERE session_id = ${sessionId}`.pipe(
      Effect.asVoid,
      Effect.mapError(storeError(sessionId, "delete"))
    )

  return ConversationStore.make({ load, save, delete: remove })
})

// PostgreSQL's own message and code, when the driver gives them
const describe = (error: SqlError.SqlError): string => {
  const cause = (error.reason as { readonly cause?: unknown }).cause as
    | { readonly message?: unknown; readonly code?: unknown }
    | undefined
  return typeof cause?.message === "string"
    ? `${error.message}: ${cause.message}${typeof cause.code === "string" ? ` (${cause.code})` : ""}`
    : error.message
}

/**
 * The store on the `SqlClient` already in the context (a `PgClient` layer of
 * your own).
 *
 * @example
 * ```ts
 * import { PgConversationStore } from "@effect-harness/sql"
 * import { PgClient } from "@effect/sql-pg"
 * import { Layer } from "effect"
 *
 * const Store = PgConversationStore.layerClient({ table: "chat.conversations" }).pipe(
 *   Layer.provide(PgClient.layer({ host: "127.0.0.1", database: "app", username: "postgres" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerClient = (
  options?: TableOptions
): Layer.Layer<ConversationStore.ConversationStore, SqlError.SqlError, SqlClient.SqlClient> =>
  Layer.effect(ConversationStore.ConversationStore, make(options))

/**
 * The store with its own connection pool.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<ConversationStore.ConversationStore, SqlError.SqlError> =>
  layerClient({ table: options.table }).pipe(Layer.provide(PgClient.layer(options)))

/**
 * The store with its own connection pool, configured through `Config`.
 *
 * @example
 * ```ts
 * import { PgConversationStore } from "@effect-harness/sql"
 * import { Config } from "effect"
 *
 * const Store = PgConversationStore.layerConfig({ url: Config.Redacted("DATABASE_URL") })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<Options>
): Layer.Layer<ConversationStore.ConversationStore, SqlError.SqlError | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(config), layer))

/**
 * The database of the cluster engine, as `AgentWorkflow`'s public calls see
 * it: which one it is (for the error message), how to check it, and how long
 * a call may go without reaching it.
 *
 * effect's cluster engine turns its storage errors into defects (`orDie`), so
 * a lost database made `status`, `start`, `run`, `waiting` and `approve` die
 * with an `SqlError`, and a `run` waiting for its answer kept waiting while
 * the engine could not read it. {@link guard} turns those defects (and only
 * those: an `SqlError`, the cluster's `PersistenceError`, the approvals
 * store's `KeyValueStoreError`) into the typed {@link EngineUnavailable}, and
 * bounds the call.
 *
 * The cluster layers provide {@link EngineDatabase}; the memory engine does
 * not, and its calls are left as they are (there is no database to lose).
 *
 * @internal
 */
import { Cause, Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { ClusterError } from "effect/cluster"
import { KeyValueStore } from "effect/persistence"
import { SqlClient, SqlError } from "effect/sql"

/**
 * A call of `AgentWorkflow` could not reach the workflow engine's database
 * (`database`, its password masked): the connection was refused or lost, or
 * nothing answered within the engine's `unavailableAfter`. Nothing was
 * decided by the failed call; call it again once the database is back.
 *
 * @since 0.1.0
 */
export class EngineUnavailable extends Schema.TaggedError<EngineUnavailable>()("EngineUnavailable", {
  /** The call (`status`, `start`, `run`, `waiting`, `approve`, `deny`, `decide`). */
  operation: Schema.String,
  /** The database, as a URL with its password masked. */
  database: Schema.String,
  /** What went wrong (the driver's message, or the time without an answer). */
  detail: Schema.String
}) {
  override get message(): string {
    return `The workflow engine's database ${this.database} cannot be reached (${this.operation}: ${this.detail}): ` +
      `check that PostgreSQL is running and reachable from this process, and the database URL, ` +
      `user and password it was given; the call can be made again once it is back`
  }
}

/** The engine's database, provided by the cluster layers. */
export class EngineDatabase extends Context.Service<EngineDatabase, {
  readonly database: string
  readonly check: Effect.Effect<void, unknown>
  readonly unavailableAfter: Duration.Duration
}>()("@effect-harness/workflow/EngineDatabase") {}

/** The default of `ClusterOptions.unavailableAfter`. */
export const defaultUnavailableAfter = "30 seconds"

/**
 * `@effect/sql-pg`'s client, looked up by its key: the package is an optional
 * peer of this one, so it is not imported; only its settings are read, to
 * name the database in errors.
 */
const PgClientSettings = Context.Service<{
  readonly config: {
    readonly url?: Redacted.Redacted | undefined
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly database?: string | undefined
    readonly username?: string | undefined
  }
}>("@effect/sql-pg/PgClient")

const masked = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    // not a URL: show nothing of it, it may hold a secret
    return "(the configured URL)"
  }
}

/** The database the `SqlClient` of the context talks to, its password masked. */
const describe = Effect.map(Effect.serviceOption(PgClientSettings), (pg): string => {
  if (Option.isNone(pg)) return "(the SqlClient's database)"
  const config = pg.value.config
  if (config.url !== undefined) return masked(Redacted.value(config.url) as string)
  const user = config.username ?? "postgres"
  return `postgres://${user}@${config.host ?? "localhost"}:${config.port ?? 5432}/${config.database ?? user}`
})

/** The engine's database for the `SqlClient` of the context. */
const make = (unavailableAfter: Duration.Input | undefined) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return EngineDatabase.of({
      database: yield* describe,
      check: Effect.asVoid(sql`SELECT 1`),
      unavailableAfter: Duration.fromInputUnsafe(unavailableAfter ?? defaultUnavailableAfter)
    })
  })

/**
 * A cluster layer with {@link EngineDatabase} added, its build guarded as a
 * call ("connecting"): the engine's tables are created while it is built, so
 * a database it cannot reach fails it with {@link EngineUnavailable} (within
 * `unavailableAfter`) instead of a defect or a wait.
 */
export const provide = <ROut, E, RIn>(
  engine: Layer.Layer<ROut, E, RIn>,
  unavailableAfter: Duration.Input | undefined
): Layer.Layer<ROut | EngineDatabase, E | EngineUnavailable, RIn | SqlClient.SqlClient> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const db = yield* make(unavailableAfter)
      const context = yield* guardWith(db, "connecting", Layer.build(engine), "call")
      return Context.add(context, EngineDatabase, db)
    })
  )

/** Whether a defect is one of the storage's: SQL, the cluster's persistence, the approvals store. */
const isStorageFailure = (defect: unknown): boolean =>
  SqlError.isSqlError(defect) || defect instanceof ClusterError.PersistenceError ||
  defect instanceof KeyValueStore.KeyValueStoreError

/** The driver's own words, from the innermost error with a message. */
const detailOf = (defect: unknown): string => {
  let current: unknown = defect
  let detail = String(defect)
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    if (SqlError.isSqlError(current)) {
      const cause = current.reason.cause
      detail = cause instanceof Error && cause.message !== "" ? cause.message : current.message
      break
    }
    if (current instanceof Error && current.message !== "") detail = current.message
    current = (current as { readonly cause?: unknown }).cause
  }
  return detail.replace(/\s+/g, " ").trim().slice(0, 200)
}

/**
 * `effect` with its storage defects as {@link EngineUnavailable}, bounded:
 * a call that answers once (`bound: "call"`) fails when it has no answer
 * within `unavailableAfter`; a call that waits for a run (`bound: "watch"`)
 * may wait as long as the run takes, but fails when the database has not
 * answered a check for `unavailableAfter`. Other defects are left as they are.
 */
export const guard = <A, E, R>(
  operation: string,
  effect: Effect.Effect<A, E, R>,
  bound: "call" | "watch"
): Effect.Effect<A, E | EngineUnavailable, R> =>
  Effect.flatMap(
    Effect.serviceOption(EngineDatabase),
    (found): Effect.Effect<A, E | EngineUnavailable, R> =>
      // the memory engine: no database to lose
      Option.isNone(found) ? effect : guardWith(found.value, operation, effect, bound)
  )

const guardWith = <A, E, R>(
  db: EngineDatabase["Service"],
  operation: string,
  effect: Effect.Effect<A, E, R>,
  bound: "call" | "watch"
): Effect.Effect<A, E | EngineUnavailable, R> => {
  const unavailable = (detail: string) => new EngineUnavailable({ operation, database: db.database, detail })
  const typed = Effect.catchCause(effect, (cause): Effect.Effect<never, E | EngineUnavailable> => {
    const lost = cause.reasons.find((reason) => Cause.isDieReason(reason) && isStorageFailure(reason.defect))
    return lost !== undefined && Cause.isDieReason(lost)
      ? Effect.fail(unavailable(detailOf(lost.defect)))
      : Effect.failCause(cause)
  })
  const after = Duration.format(db.unavailableAfter)
  if (bound === "call") {
    return typed.pipe(
      Effect.timeoutOrElse({
        duration: db.unavailableAfter,
        orElse: () => Effect.fail(unavailable(`no answer within ${after}`))
      })
    )
  }
  return Effect.raceFirst(typed, watch(db, () => unavailable(`no answer to a check for ${after}`)))
}

/** Fails once the database has answered no check for `unavailableAfter`. */
const watch = (
  db: EngineDatabase["Service"],
  unavailable: () => EngineUnavailable
): Effect.Effect<never, EngineUnavailable> =>
  Effect.gen(function*() {
    const limit = Duration.toMillis(db.unavailableAfter)
    // a few checks within the limit, not more often than 10 a second nor less than every 5 seconds
    const every = Math.min(5_000, Math.max(100, limit / 5))
    let answered = yield* Clock.currentTimeMillis
    for (;;) {
      yield* Effect.sleep(Duration.millis(every))
      const ok = yield* db.check.pipe(
        Effect.timeoutOption(Duration.millis(every)),
        Effect.map(Option.isSome),
        Effect.catchCause(() => Effect.succeed(false))
      )
      const now = yield* Clock.currentTimeMillis
      if (ok) answered = now
      else if (now - answered >= limit) return yield* unavailable()
    }
  })

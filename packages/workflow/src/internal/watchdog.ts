/**
 * The database watchdog of `WorkflowEngines.runWorker`: whether this process
 * can keep a database session open.
 *
 * effect's cluster keeps a runner in the shard assignment while its heartbeat
 * reaches the database and its TCP port answers. A worker whose database
 * sessions keep being cut (terminated by the server or an administrator, a
 * flapping network, a proxy that drops them) still gets a heartbeat through
 * between two cuts, so it keeps its shards assigned, but its shard locks,
 * held by a session, never last: its runs stall and no other worker takes
 * them. The watchdog holds one session of its own and checks it at a steady
 * pace: a session that answers a check it was open for has survived. When,
 * for `giveUpAfter`, no session survived while sessions could be opened and
 * were lost again (at least two), the worker gives up.
 *
 * A database that cannot be reached at all is not a reason to give up: the
 * worker's heartbeat stops, the other workers take its shards once its locks
 * expire, and it takes work again when the database comes back.
 *
 * @internal
 */
import { Clock, Duration, Effect, Exit, Fiber, Scope } from "effect"
import { SqlClient } from "effect/sql"
import type { Connection } from "effect/sql/SqlConnection"

export interface Options {
  readonly checkEvery: Duration.Duration
  readonly giveUpAfter: Duration.Duration
}

export interface Lost {
  readonly lostSessions: number
  readonly sinceMs: number
}

// `Effect.timeout` waits for the timed-out effect to be interrupted, which a
// query on a dead socket may not allow: the query runs on a fiber of its own
// and only the wait for it is bounded (effect's SqlRunnerStorage does the same)
const withDeadline = <A, E>(effect: Effect.Effect<A, E>, deadline: Duration.Duration) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkDetach(effect)
    const exit = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(deadline))
    if (exit._tag === "None") {
      yield* Effect.forkDetach(Fiber.interrupt(fiber))
      return yield* Effect.fail("timeout" as const)
    }
    return yield* exit.value
  })

interface Session {
  readonly connection: Connection
  readonly scope: Scope.Closeable
}

/** Runs until the process cannot keep a session; then succeeds with what it saw. */
export const watch = (options: Options): Effect.Effect<Lost, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const check = (connection: Connection) => withDeadline(connection.executeRaw("SELECT 1", []), options.checkEvery)
    const close = (session: Session) =>
      Effect.forkDetach(Scope.close(session.scope, Exit.void)).pipe(Effect.asVoid)
    const open = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const opened = yield* withDeadline(
        Effect.flatMap(Scope.provide(sql.reserve, scope), (connection) => Effect.as(check(connection), connection)),
        options.checkEvery
      ).pipe(Effect.exit)
      if (Exit.isFailure(opened)) {
        yield* Effect.forkDetach(Scope.close(scope, Exit.void))
        return undefined
      }
      return { connection: opened.value, scope } satisfies Session
    })

    let session = yield* open
    let survivedAt = yield* Clock.currentTimeMillis
    let lost = 0
    const giveUpAfter = Duration.toMillis(options.giveUpAfter)
    return yield* Effect.gen(function*() {
      for (;;) {
        yield* Effect.sleep(options.checkEvery)
        const now = yield* Clock.currentTimeMillis
        if (session !== undefined) {
          const answered = yield* Effect.exit(check(session.connection))
          if (Exit.isSuccess(answered)) {
            survivedAt = now
            lost = 0
            continue
          }
          yield* close(session)
          session = undefined
          lost++
        }
        if (lost >= 2 && now - survivedAt >= giveUpAfter) return { lostSessions: lost, sinceMs: now - survivedAt }
        session = yield* open
      }
    }).pipe(Effect.ensuring(Effect.suspend(() => session === undefined ? Effect.void : close(session))))
  })

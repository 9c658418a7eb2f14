/**
 * The engines a workflow runs on, behind this package's API: in memory (tests,
 * one process) or effect's cluster engine with its state in PostgreSQL
 * (several worker processes, runs moved off a worker that dies).
 *
 * The cluster layers need a `SqlClient` (for PostgreSQL, `@effect/sql-pg`'s
 * `PgClient.layer`). Their tables (`<prefix>_messages`, `<prefix>_replies`,
 * `<prefix>_runners`, `<prefix>_locks`, `<prefix>_approvals`, default prefix
 * `cluster`) are created on first use. Workers of one deployment share a
 * prefix; each worker listens on its own `host:port`, which the other workers
 * reach (runner messages and health pings go over TCP, state goes through
 * PostgreSQL). Shards of a worker that dies are locked by PostgreSQL advisory
 * locks that die with its connections, so another worker takes them over and
 * its runs resume there without a new call.
 *
 * Run a worker with {@link runWorker}: it also gives up (fails with
 * {@link DatabaseLost}) when the process cannot keep a database session, so
 * that a worker cut off from PostgreSQL does not keep shards it cannot work on.
 *
 * Retention: the engine keeps every execution's messages and activity results
 * forever. {@link prune} deletes those of executions that completed before a
 * cutoff; run it on a schedule (any process with the `SqlClient`).
 *
 * @since 0.1.0
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import { Clock, type Config, Duration, Effect, Fiber, Layer, Option, Schema } from "effect"
import {
  ClusterWorkflowEngine,
  MachineId,
  RunnerAddress,
  RunnerHealth,
  Runners,
  Sharding,
  ShardingConfig,
  SqlMessageStorage,
  Snowflake,
  SqlRunnerStorage
} from "effect/cluster"
import type { SocketServer } from "effect/socket"
import { SqlClient, type SqlError } from "effect/sql"
import { WorkflowEngine } from "effect/workflow"
import * as Approvals from "./Approvals.ts"
import * as EngineDatabase from "./internal/engineDatabase.ts"
import * as Watchdog from "./internal/watchdog.ts"

/**
 * A call of `AgentWorkflow` (`status`, `start`, `run`, `waiting`, `approve`,
 * `deny`, `decide`) on a cluster engine could not reach the engine's
 * database: the connection was refused or lost, or nothing answered within
 * the layer's `unavailableAfter` (default 30 seconds). Its message names the
 * database (URL, password masked) and what to check; call again once the
 * database is back. Other defects are not turned into it.
 *
 * @example
 * ```ts
 * import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
 * import { Effect } from "effect"
 *
 * declare const Support: AgentWorkflow.AgentWorkflow<string, string, never>
 *
 * const report = (error: WorkflowEngines.EngineUnavailable) =>
 *   Effect.logError(`${error.operation} on ${error.database}: ${error.detail}`)
 *
 * const status = AgentWorkflow.status(Support, "ticket-42").pipe(
 *   Effect.catchTag("EngineUnavailable", report)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const EngineUnavailable = EngineDatabase.EngineUnavailable

/**
 * @since 0.1.0
 */
export type EngineUnavailable = EngineDatabase.EngineUnavailable

/**
 * effect's in-memory workflow engine with an in-memory approvals store: runs
 * suspend and resume, activities are recorded, nothing survives the process.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<WorkflowEngine.WorkflowEngine | Approvals.Approvals> = Layer.merge(
  WorkflowEngine.layerMemory,
  Approvals.layerMemory
)

/**
 * Options of the cluster layers.
 *
 * @since 0.1.0
 */
export interface ClusterOptions {
  /** The tables' prefix (default `cluster`): one per deployment. */
  readonly prefix?: string | undefined
  /** effect's sharding settings (lock intervals, shards per group, ...), over its defaults. */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
  /**
   * How long a call of `AgentWorkflow` goes without reaching the database
   * before it fails with {@link EngineUnavailable} (default 30 seconds): a
   * call that answers once (`status`, `start`, `waiting`, `approve`) must
   * answer within it; `run` waits as long as its run takes, but fails when
   * the database answers no check for that long. A refused or lost
   * connection fails the call at once.
   */
  readonly unavailableAfter?: Duration.Input | undefined
}

const storage = (prefix: string, config: Layer.Layer<ShardingConfig.ShardingConfig>) =>
  Layer.merge(SqlMessageStorage.layerWith({ prefix }), Layer.orDie(SqlRunnerStorage.layerWith({ prefix }))).pipe(
    Layer.provide([config, NodeCrypto.layerDigest])
  )

/**
 * A worker: a cluster runner listening on `host:port` (default host
 * `127.0.0.1`) that takes its share of the shards and runs the workflows
 * registered in the same layer (an `AgentWorkflow`'s `layer`). Run it with
 * {@link runWorker}.
 *
 * @since 0.1.0
 */
export const layerWorker = (
  options: ClusterOptions & { readonly host?: string | undefined; readonly port: number }
): Layer.Layer<
  WorkflowEngine.WorkflowEngine | Approvals.Approvals | Sharding.Sharding,
  SocketServer.SocketServerError | Config.ConfigError | EngineUnavailable,
  SqlClient.SqlClient
> => {
  const prefix = options.prefix ?? "cluster"
  const address = RunnerAddress.make(options.host ?? "127.0.0.1", options.port)
  const sharding = { ...options.sharding, runnerAddress: Option.some(address) }
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", shardingConfig: sharding })),
    Layer.provideMerge(storage(prefix, ShardingConfig.layer(sharding))),
    Layer.merge(Approvals.layerSql({ table: `${prefix}_approvals` })),
    (engine) => EngineDatabase.provide(engine, options.unavailableAfter)
  )
}

/**
 * A worker gave up: for `sinceMs` it could open database sessions but none
 * stayed open from one check to the next (`lostSessions` were lost), so it
 * could not hold its shard locks. Its shards go to the other workers; start
 * it again (a supervisor, or `Effect.retry`).
 *
 * @since 0.1.0
 */
export class DatabaseLost extends Schema.TaggedError<DatabaseLost>()("DatabaseLost", {
  lostSessions: Schema.Int,
  sinceMs: Schema.Number
}) {
  override get message(): string {
    return `The worker lost ${this.lostSessions} database sessions in a row and kept none for ${
      (this.sinceMs / 1000).toFixed(1)
    } s: it gives up its shards`
  }
}

/**
 * Options of {@link runWorker}.
 *
 * @since 0.1.0
 */
export interface RunWorkerOptions {
  /**
   * How often the worker checks that its own database session is still open
   * (default 5 seconds; keep it under the sharding's `shardLockRefreshInterval`).
   */
  readonly checkEvery?: Duration.Input | undefined
  /**
   * How long the worker goes on while sessions open but never last, before it
   * gives up (default 35 seconds, effect's `shardLockExpiration`).
   */
  readonly giveUpAfter?: Duration.Input | undefined
  /**
   * How long the worker's shutdown (its shards handed off, its entities
   * stopped) may take once it gave up, before it fails anyway (default 20 seconds).
   */
  readonly stopWithin?: Duration.Input | undefined
}

/**
 * Runs a worker (a layer with {@link layerWorker}) until it is interrupted,
 * and watches its database. effect's cluster keeps a worker's shards assigned
 * to it while its heartbeat reaches the database and its port answers; a
 * worker whose sessions keep being cut (terminated, a flapping network or
 * proxy) gets heartbeats through between cuts but cannot keep the session
 * that holds its shard locks, so its runs would stall with no other worker
 * taking them. When, for `giveUpAfter`, sessions open but none lasts from one
 * check to the next, the worker stops (within `stopWithin`) and fails with
 * {@link DatabaseLost}: the other workers take its shards, and a supervisor
 * (or `Effect.retry`) starts it again. A database that cannot be reached at
 * all is not a reason to stop: the heartbeat stops, the others take the
 * shards when their locks expire, and the worker goes on when it comes back.
 *
 * The `SqlClient` comes from the context (provide it around `runWorker`),
 * so the watchdog's session goes the same way as the worker's.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-harness/core"
 * import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
 * import { PgClient } from "@effect/sql-pg"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * declare const agent: Agent.Agent<string, string, never>
 * const Support = AgentWorkflow.make(agent)
 *
 * const pg = PgClient.layer({ url: Redacted.make("postgres://postgres@127.0.0.1:5432/app") })
 *
 * export const worker = WorkflowEngines.runWorker(
 *   Support.layer.pipe(Layer.provideMerge(WorkflowEngines.layerWorker({ port: 34431 })))
 * ).pipe(Effect.provide(pg))
 * ```
 *
 * @since 0.1.0
 */
export const runWorker = <ROut, E, RIn>(
  worker: Layer.Layer<ROut, E, RIn>,
  options?: RunWorkerOptions
): Effect.Effect<never, E | DatabaseLost, RIn | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const running = yield* Effect.forkDetach(Layer.launch(worker))
    const stopWithin = Duration.fromInputUnsafe(options?.stopWithin ?? "20 seconds")
    // the worker never ends by itself: it fails (its layer could not be
    // built), or the watchdog sees the database lost first
    const lost = yield* Effect.raceFirst(
      Fiber.join(running),
      Watchdog.watch({
        checkEvery: Duration.fromInputUnsafe(options?.checkEvery ?? "5 seconds"),
        giveUpAfter: Duration.fromInputUnsafe(options?.giveUpAfter ?? "35 seconds")
      })
    ).pipe(Effect.onInterrupt(() => Fiber.interrupt(running)))
    const error = new DatabaseLost(lost)
    yield* Effect.logError(error.message)
    // a shutdown that needs the database it lost may not end: bounded
    yield* Fiber.interrupt(running).pipe(Effect.timeoutOption(stopWithin))
    return yield* error
  })

/**
 * A client: starts runs, reads their status and answers approvals, without
 * running any (it holds no shards). Its calls fail with
 * {@link EngineUnavailable} when they cannot reach the database (see
 * `unavailableAfter`).
 *
 * @since 0.1.0
 */
export const layerClient = (options?: ClusterOptions): Layer.Layer<
  WorkflowEngine.WorkflowEngine | Approvals.Approvals,
  Config.ConfigError | EngineUnavailable,
  SqlClient.SqlClient
> => {
  const prefix = options?.prefix ?? "cluster"
  const sharding = { ...options?.sharding, runnerAddress: Option.none() }
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provide(NodeClusterSocket.layer({ storage: "byo", clientOnly: true, shardingConfig: sharding })),
    Layer.provide(storage(prefix, ShardingConfig.layer(sharding))),
    Layer.merge(Approvals.layerSql({ table: `${prefix}_approvals` })),
    (engine) => EngineDatabase.provide(engine, options?.unavailableAfter)
  )
}

/**
 * One process that is the whole cluster (no TCP listener): runs are recorded
 * in PostgreSQL and resumed when the process starts again.
 *
 * @since 0.1.0
 */
export const layerSingle = (options?: ClusterOptions): Layer.Layer<
  WorkflowEngine.WorkflowEngine | Approvals.Approvals | Sharding.Sharding,
  EngineUnavailable,
  SqlClient.SqlClient
> => {
  const prefix = options?.prefix ?? "cluster"
  const config = ShardingConfig.layer(options?.sharding)
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(
      Sharding.layer.pipe(
        Layer.provideMerge(Runners.layerNoop),
        Layer.provide([RunnerHealth.layerNoop, config])
      )
    ),
    Layer.provideMerge(storage(prefix, config)),
    Layer.merge(Approvals.layerSql({ table: `${prefix}_approvals` })),
    (engine) => EngineDatabase.provide(engine, options?.unavailableAfter)
  )
}

/**
 * Options of {@link prune}.
 *
 * @since 0.1.0
 */
export interface PruneOptions {
  /** The tables' prefix (default `cluster`), as the workers were given. */
  readonly prefix?: string | undefined
  /** Executions that completed at least this long ago are deleted. */
  readonly olderThan: Duration.Input
}

/**
 * Deletes, from the cluster engine's PostgreSQL tables, every workflow
 * execution that completed (with an answer or an error) at least `olderThan`
 * ago: its run request, activity results, deferred results (approvals) and
 * durable clock, in one transaction per execution. Runs that are running,
 * suspended (waiting for an approval or a durable sleep) or completed more
 * recently are kept. Returns the execution ids deleted.
 *
 * After pruning, the engine no longer knows the run: `status` says
 * `Pending`, and starting the same run id again runs it anew. Keep
 * `olderThan` longer than any caller may still ask for the answer.
 *
 * @example
 * ```ts
 * import { WorkflowEngines } from "@effect-harness/workflow"
 * import { Effect, Schedule } from "effect"
 *
 * // in one worker: every hour, forget runs completed more than 7 days ago
 * const retention = WorkflowEngines.prune({ olderThan: "7 days" }).pipe(
 *   Effect.repeat(Schedule.spaced("1 hour"))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const prune = Effect.fn("WorkflowEngines.prune")(function*(options: PruneOptions) {
  const sql = yield* SqlClient.SqlClient
  const prefix = options.prefix ?? "cluster"
  const messages = sql(`${prefix}_messages`)
  const replies = sql(`${prefix}_replies`)
  const now = yield* Clock.currentTimeMillis
  // reply ids are snowflakes: their high bits are the time the reply was saved
  const cutoff = Snowflake.make({
    timestamp: now - Duration.toMillis(Duration.fromInputUnsafe(options.olderThan)),
    machineId: MachineId.make(0),
    sequence: 0
  })
  // a run request's final reply is a Complete result; a suspended run's is Suspended
  const done = yield* sql<{ readonly entity_type: string; readonly entity_id: string }>`
    SELECT m.entity_type, m.entity_id FROM ${messages} m
    JOIN ${replies} r ON r.request_id = m.id AND r.kind = 0
    WHERE m.tag = 'run' AND m.entity_type LIKE 'Workflow/%'
      AND r.id < ${String(cutoff)}
      AND (r.payload::jsonb #>> '{value,_tag}') = 'Complete'`
  const pruned: Array<string> = []
  for (const { entity_id, entity_type } of done) {
    yield* Effect.gen(function*() {
      for (const type of [entity_type, "Workflow/-/DurableClock"]) {
        yield* sql`DELETE FROM ${replies} WHERE request_id IN (
          SELECT id FROM ${messages} WHERE entity_type = ${type} AND entity_id = ${entity_id})`
        yield* sql`DELETE FROM ${messages} WHERE entity_type = ${type} AND entity_id = ${entity_id}`
      }
    }).pipe(sql.withTransaction)
    pruned.push(entity_id)
  }
  return pruned as ReadonlyArray<string>
}) as (options: PruneOptions) => Effect.Effect<ReadonlyArray<string>, SqlError.SqlError, SqlClient.SqlClient>

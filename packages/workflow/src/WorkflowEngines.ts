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
 * @since 0.1.0
 */
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import { type Config, Layer, Option } from "effect"
import {
  ClusterWorkflowEngine,
  RunnerAddress,
  RunnerHealth,
  Runners,
  Sharding,
  ShardingConfig,
  SqlMessageStorage,
  SqlRunnerStorage
} from "effect/cluster"
import type { SocketServer } from "effect/socket"
import type { SqlClient } from "effect/sql"
import { WorkflowEngine } from "effect/workflow"
import * as Approvals from "./Approvals.ts"

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
}

const storage = (prefix: string, config: Layer.Layer<ShardingConfig.ShardingConfig>) =>
  Layer.merge(SqlMessageStorage.layerWith({ prefix }), Layer.orDie(SqlRunnerStorage.layerWith({ prefix }))).pipe(
    Layer.provide([config, NodeCrypto.layerDigest])
  )

/**
 * A worker: a cluster runner listening on `host:port` (default host
 * `127.0.0.1`) that takes its share of the shards and runs the workflows
 * registered in the same layer (an `AgentWorkflow`'s `layer`).
 *
 * @since 0.1.0
 */
export const layerWorker = (
  options: ClusterOptions & { readonly host?: string | undefined; readonly port: number }
): Layer.Layer<
  WorkflowEngine.WorkflowEngine | Approvals.Approvals | Sharding.Sharding,
  SocketServer.SocketServerError | Config.ConfigError,
  SqlClient.SqlClient
> => {
  const prefix = options.prefix ?? "cluster"
  const address = RunnerAddress.make(options.host ?? "127.0.0.1", options.port)
  const sharding = { ...options.sharding, runnerAddress: Option.some(address) }
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(NodeClusterSocket.layer({ storage: "byo", shardingConfig: sharding })),
    Layer.provideMerge(storage(prefix, ShardingConfig.layer(sharding))),
    Layer.merge(Approvals.layerSql({ table: `${prefix}_approvals` }))
  )
}

/**
 * A client: starts runs, reads their status and answers approvals, without
 * running any (it holds no shards).
 *
 * @since 0.1.0
 */
export const layerClient = (options?: ClusterOptions): Layer.Layer<
  WorkflowEngine.WorkflowEngine | Approvals.Approvals,
  Config.ConfigError,
  SqlClient.SqlClient
> => {
  const prefix = options?.prefix ?? "cluster"
  const sharding = { ...options?.sharding, runnerAddress: Option.none() }
  return ClusterWorkflowEngine.layer.pipe(
    Layer.provide(NodeClusterSocket.layer({ storage: "byo", clientOnly: true, shardingConfig: sharding })),
    Layer.provide(storage(prefix, ShardingConfig.layer(sharding))),
    Layer.merge(Approvals.layerSql({ table: `${prefix}_approvals` }))
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
  never,
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
    Layer.merge(Approvals.layerSql({ table: `${prefix}_approvals` }))
  )
}

/**
 * A worker process of the multi-worker tests: a cluster runner on
 * 127.0.0.1:<port> running the shop agent's workflow, until it is killed.
 * Configuration in argv[2] as JSON: { port, worker, prefix, log, pg }.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { WorkflowEngines } from "@effect-harness/workflow"
import { Effect, Layer, Redacted } from "effect"
import * as Shop from "./shop.ts"

const config = JSON.parse(process.argv[2]!) as {
  readonly port: number
  readonly worker: number
  readonly prefix: string
  readonly log: string
  readonly latencyMs: number
  readonly pg: { readonly url?: string; readonly host: string; readonly port: number; readonly username: string; readonly database: string }
}

const pg = PgClient.layer(
  config.pg.url !== undefined
    ? { url: Redacted.make(config.pg.url) }
    : { host: config.pg.host, port: config.pg.port, username: config.pg.username, database: config.pg.database }
)

const worker = Shop.Shopper.layer.pipe(
  Layer.provideMerge(WorkflowEngines.layerWorker({ prefix: config.prefix, port: config.port, sharding: Shop.sharding })),
  Layer.provideMerge(Shop.layer({ table: config.log, worker: config.worker, latency: `${config.latencyMs} millis` })),
  Layer.provide(pg)
)

NodeRuntime.runMain(
  Effect.andThen(Effect.sync(() => process.stdout.write("ready\n")), Effect.never).pipe(
    Effect.provide(worker)
  )
)

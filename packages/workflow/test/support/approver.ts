/**
 * A process that answers an approval and nothing else: a cluster client (no
 * shards, no workflow registered) over the tests' PostgreSQL. It reads which
 * call run `run` of the desk workflow waits for, sends a decision for the
 * `wrong` call id, then approves call `approve`, and prints what happened as
 * one JSON line: `{ waiting, wrong, approved }`, each decision as `"ok"` or
 * the error it failed with (its tag, message and fields).
 * Configuration in argv[2] as JSON: { prefix, pg, run, wrong, approve }.
 */
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
import { Effect, Layer, Redacted } from "effect"
import { Desk } from "./desk.ts"
import type { PgTarget } from "./processes.ts"
import * as Shop from "./shop.ts"

const config = JSON.parse(process.argv[2]!) as {
  readonly prefix: string
  readonly pg: PgTarget
  readonly run: string
  readonly wrong: string
  readonly approve: string
}

const pg = PgClient.layer(
  config.pg.url !== undefined
    ? { url: Redacted.make(config.pg.url) }
    : { host: config.pg.host, port: config.pg.port, username: config.pg.username, database: config.pg.database }
)

const outcome = <E, R>(decision: Effect.Effect<void, E, R>): Effect.Effect<unknown, never, R> =>
  decision.pipe(
    Effect.as("ok" as unknown),
    Effect.catch((error) => {
      const failure = error as { readonly _tag: string; readonly message: string }
      return Effect.succeed({ ...failure, _tag: failure._tag, message: failure.message } as unknown)
    })
  )

NodeRuntime.runMain(
  Effect.gen(function*() {
    const waiting = yield* AgentWorkflow.waiting(Desk, config.run)
    const wrong = yield* outcome(AgentWorkflow.approve(Desk, config.run, config.wrong))
    const approved = yield* outcome(AgentWorkflow.approve(Desk, config.run, config.approve))
    process.stdout.write(`${JSON.stringify({ waiting: waiting?.callId ?? null, wrong, approved })}\n`)
  }).pipe(
    Effect.provide(
      WorkflowEngines.layerClient({ prefix: config.prefix, sharding: Shop.sharding }).pipe(Layer.provide(pg))
    )
  )
)

/**
 * Where a workflow's waiting approval is written down, so that any process
 * can see which tool call a suspended run waits for before it answers. A
 * decision itself travels through the workflow engine (a `DurableDeferred`);
 * this store only tells `AgentWorkflow.approve` which call is waiting, so that
 * a decision for another call is refused instead of silently recorded.
 *
 * One entry per run: an agent asks for its approvals one call at a time.
 * Backed by effect's `KeyValueStore` (memory, files, or SQL).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import { KeyValueStore } from "effect/persistence"
import type { SqlClient } from "effect/sql"

/**
 * A tool call a run is waiting on.
 *
 * @since 0.1.0
 */
export const Waiting = Schema.Struct({
  workflow: Schema.String,
  runId: Schema.String,
  executionId: Schema.String,
  agent: Schema.String,
  step: Schema.Int,
  callId: Schema.String,
  name: Schema.String,
  params: Schema.Unknown
})

/**
 * @since 0.1.0
 */
export type Waiting = typeof Waiting.Type

/**
 * The store of waiting approvals.
 *
 * @since 0.1.0
 */
export class Approvals extends Context.Service<Approvals, {
  /** The call run `runId` of workflow `workflow` waits for, if any. */
  readonly waiting: (workflow: string, runId: string) => Effect.Effect<Waiting | undefined>
  /** Records that a run waits for a call (replacing what it waited for before). */
  readonly ask: (waiting: Waiting) => Effect.Effect<void>
  /** Records that the run no longer waits for `callId`. */
  readonly answered: (workflow: string, runId: string, callId: string) => Effect.Effect<void>
}>()("@effect-harness/workflow/Approvals") {}

const keyOf = (workflow: string, runId: string) => `effect-harness/approval/${workflow}/${runId}`

const decode = Schema.decodeUnknownSync(Schema.fromJsonString(Waiting))
const encode = Schema.encodeSync(Schema.fromJsonString(Waiting))

/**
 * The store on the `KeyValueStore` of the context. A store that fails is a
 * defect: the run cannot tell which call it waits for.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Approvals, never, KeyValueStore.KeyValueStore> = Layer.effect(Approvals)(
  Effect.gen(function*() {
    const store = yield* KeyValueStore.KeyValueStore
    return Approvals.of({
      waiting: (workflow, runId) =>
        store.get(keyOf(workflow, runId)).pipe(
          Effect.map((text) => text === undefined ? undefined : decode(text)),
          Effect.orDie
        ),
      ask: (waiting) => Effect.orDie(store.set(keyOf(waiting.workflow, waiting.runId), encode(waiting))),
      answered: (workflow, runId, callId) =>
        Effect.gen(function*() {
          const key = keyOf(workflow, runId)
          const text = yield* store.get(key)
          if (text !== undefined && decode(text).callId === callId) yield* store.remove(key)
        }).pipe(Effect.orDie)
    })
  })
)

/**
 * The store in memory (tests, one process).
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Approvals> = Layer.provide(layer, KeyValueStore.layerMemory)

/**
 * The store in a table of the `SqlClient` of the context (default
 * `effect_harness_approvals`, created on first use): the one to use when
 * workers and the processes that approve are not the same.
 *
 * @since 0.1.0
 */
export const layerSql = (options?: { readonly table?: string | undefined }): Layer.Layer<
  Approvals,
  never,
  SqlClient.SqlClient
> => Layer.provide(layer, KeyValueStore.layerSql({ table: options?.table ?? "effect_harness_approvals" }))

/**
 * The scale case's runs (tool call, tool call, answer) one after the other,
 * on the minimal model double answering at once: the `Agent`'s, and the bare
 * loop's (bareLoop.ts) on the same double and tool. What `cpu.ts seq` times
 * and `alloc.ts` weighs, side by side.
 */
import { Agent, DirectModel } from "@effect-harness/core"
import { Effect, Layer } from "effect"
import { LanguageModel, Toolkit } from "effect/ai"
import * as BareLoop from "./bareLoop.ts"
import * as MinimalModel from "./minimalModel.ts"

/** `n` runs of each side, `steps` model calls per run. */
export const make = (steps: number): {
  readonly agentRuns: (n: number) => Effect.Effect<void, unknown>
  readonly bareRuns: (n: number) => Effect.Effect<void, unknown>
} => {
  const Kit = Toolkit.make(BareLoop.Lookup)
  const layer = Layer.mergeAll(
    MinimalModel.layer({ delayMs: 0, toolSteps: steps - 1 }),
    Kit.toLayer({ lookup: ({ orderId }) => Effect.succeed({ orderId, status: "shipped" }) })
  )
  const agent = Agent.make({ name: "scale", toolkit: Kit, maxSteps: steps + 1 })
  return {
    agentRuns: (n) =>
      Effect.forEach(Array.from({ length: n }), () => Agent.run(agent, "Where are my orders?"), { discard: true }).pipe(
        Effect.provide(layer)
      ),
    bareRuns: (n) =>
      Effect.flatMap(Effect.service(LanguageModel.LanguageModel), (lm) => {
        const model = DirectModel.of(lm)
        return Effect.forEach(Array.from({ length: n }), () => BareLoop.run(model, steps + 1), { discard: true })
      }).pipe(Effect.provide(layer))
  }
}

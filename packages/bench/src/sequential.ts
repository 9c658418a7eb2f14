/**
 * The scale case's runs (tool call, tool call, answer) one after the other,
 * on the minimal model double answering at once: the `Agent`'s, and the bare
 * loop's (bareLoop.ts) on the same double and tool. What `cpu.ts seq` times
 * and `alloc.ts` weighs, side by side.
 */
import { Agent } from "@effect-harness/core"
import { Effect, Layer } from "effect"
import * as BareLoop from "./bareLoop.ts"
import * as MinimalModel from "./minimalModel.ts"

/** `n` runs of each side, `steps` model calls per run. */
export const make = (steps: number): {
  readonly agentRuns: (n: number) => Effect.Effect<void, unknown>
  readonly bareRuns: (n: number) => Effect.Effect<void, unknown>
} => {
  const layer = Layer.mergeAll(MinimalModel.layer({ delayMs: 0, toolSteps: steps - 1 }), BareLoop.LookupHandlers)
  const agent = Agent.make({ name: "scale", toolkit: BareLoop.LookupKit, maxSteps: steps + 1 })
  return {
    agentRuns: (n) =>
      Effect.forEach(Array.from({ length: n }), () => Agent.run(agent, "Where are my orders?"), { discard: true }).pipe(
        Effect.provide(layer)
      ),
    bareRuns: (n) => Effect.provide(BareLoop.runs(n, steps + 1), layer)
  }
}

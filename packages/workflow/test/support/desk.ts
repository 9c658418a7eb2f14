/**
 * The agent of the approval-across-processes test: one `refund` tool that needs
 * approval (not idempotent), and a scripted model whose answers are computed
 * from the request, so whichever worker runs a step answers as any other
 * would. The refund's result names the worker that ran it, and the final answer
 * repeats that result: the answer itself says where the refund happened. Model
 * calls and refunds are logged to the PostgreSQL log table (support/shop.ts's)
 * with the worker's number.
 */
import { Agent } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { AgentWorkflow } from "@effect-harness/workflow"
import { Duration, Effect, Layer, Schema } from "effect"
import { type Prompt, Tool, Toolkit } from "effect/ai"
import { loggedModel, logger } from "./shop.ts"

const Refund = Tool.make("refund", {
  description: "Refund the customer's order (needs a person's approval)",
  parameters: Schema.Struct({ run: Schema.String, order: Schema.String }),
  success: Schema.String,
  needsApproval: true
})

export const Tools = Toolkit.make(Refund)

export const agent = Agent.make({ name: "desk", instructions: "Refund the order.", toolkit: Tools, maxSteps: 4 })

export const Desk = AgentWorkflow.make(agent)

/** The id of the refund call the model asks for in run `run`. */
export const callId = (run: string) => `refund-${run}`

/** What the refund returns on worker `worker`, and so the run's answer. */
export const refunded = (run: string, worker: number) => `refunded ${run} on worker ${worker}`
export const answer = (result: string) => `Done: ${result}.`

const lastToolResult = (prompt: Prompt.Prompt): string => {
  for (const message of [...prompt.content].reverse()) {
    if (message.role !== "tool") continue
    const part = message.content.find((part) => part.type === "tool-result")
    if (part?.type === "tool-result") return typeof part.result === "string" ? part.result : JSON.stringify(part.result)
  }
  return "no result"
}

/** The model and the refund handler of worker `worker`, logging to `table`, each call taking `latency`. */
export const layer = (options: { readonly table: string; readonly worker: number; readonly latency: Duration.Input }) =>
  Layer.unwrap(Effect.gen(function*() {
    const log = yield* logger(options.table, options.worker)
    const latency = Effect.sleep(Duration.fromInputUnsafe(options.latency))
    const model = loggedModel(log, latency, (run, results, prompt) =>
      results === 0
        ? TestModel.toolCalls([{ name: "refund", params: { run, order: run }, id: callId(run) }])
        : TestModel.text(answer(lastToolResult(prompt))))
    const handlers = Tools.toLayer({
      refund: ({ run }) => Effect.andThen(log(run, "refund", callId(run)), Effect.as(latency, refunded(run, options.worker)))
    })
    return Layer.merge(model, handlers)
  }))

/**
 * The least an agent loop built on effect's `Prompt`, `Tool` and `Schema`
 * does per run, for the scale figures: build each request from the history,
 * call the model's fast path, decode the tool call's parameters, run the
 * handler, encode its result and append the two messages; no journal,
 * events, budget, window, retry or failure handling. What it costs is the
 * floor of any effect-based agent, beside which the `Agent`'s own cost is
 * read (`npm run bench`, section Scale; `cpu.ts bare`).
 */
import type { DirectModel } from "@effect-harness/core"
import { Effect, Schema } from "effect"
import { Prompt, Tool } from "effect/ai"

export const Lookup = Tool.make("lookup", {
  parameters: Schema.Struct({ orderId: Schema.String }),
  success: Schema.Struct({ orderId: Schema.String, status: Schema.String })
})

const decode = Schema.decodeUnknownEffect(Lookup.parametersSchema)
const encode = Schema.encodeUnknownEffect(Lookup.successSchema)

/** One run: model calls until the model answers without a tool call (at most `maxSteps`). */
export const run = (model: DirectModel.Resolved, maxSteps: number): Effect.Effect<string, unknown> =>
  Effect.gen(function*() {
    const history: Array<Prompt.Message> = [Prompt.userMessage({ content: [Prompt.textPart({ text: "Where are my orders?" })] })]
    for (let step = 0; step < maxSteps; step++) {
      const reply = yield* model.generate({
        prompt: Prompt.fromMessages(history.slice()),
        tools: [Lookup],
        toolChoice: "auto",
        responseFormat: { type: "text" }
      })
      const call = reply.toolCalls[0]
      if (call === undefined) return reply.text
      const params = yield* decode(call.params)
      const result = yield* encode({ orderId: params.orderId, status: "shipped" })
      history.push(
        Prompt.assistantMessage({ content: [Prompt.toolCallPart({ ...call, providerExecuted: false })] }),
        Prompt.toolMessage({
          content: [Prompt.toolResultPart({ id: call.id, name: call.name, isFailure: false, result, providerExecuted: false })]
        })
      )
    }
    return ""
  })

/**
 * The model double of the scale case: a minimal `LanguageModel` with a
 * `DirectModel` fast path attached, as a provider has, that answers every
 * request after a fixed delay and records nothing (`TestModel` keeps every
 * request it answers, which would be part of the agent's figure).
 *
 * The reply depends only on the request: a `lookup` tool call while the
 * prompt holds fewer than `toolSteps` tool results, then the final text. Its
 * own cost is measured on its own ({@link callsAlone}) so that the agent's
 * share can be reported.
 */
import { DirectModel } from "@effect-harness/core"
import { Effect, Layer, Stream } from "effect"
import { LanguageModel, Prompt, type Response } from "effect/ai"

const usage: DirectModel.Usage = { inputTokens: 100, outputTokens: 20 }
const finalText = "All orders shipped."

// tool results in the prompt: the model's only state is the request
const toolResults = (prompt: Prompt.Prompt): number => {
  let count = 0
  for (const message of prompt.content) if (message.role === "tool") count++
  return count
}

/** The reply to a request: a tool call while fewer than `toolSteps` results came back, then the answer. */
export const replyTo = (toolSteps: number) => (request: { readonly prompt: Prompt.Prompt }): DirectModel.Reply => {
  const done = toolResults(request.prompt)
  return done < toolSteps
    ? {
      text: "",
      toolCalls: [{ id: `call_${done}`, name: "lookup", params: { orderId: `A-${done}` } }],
      finishReason: "tool-calls",
      usage
    }
    : { text: finalText, toolCalls: [], finishReason: "stop", usage }
}

const partsOf = (reply: DirectModel.Reply): Array<Response.PartEncoded> => [
  ...(reply.text.length > 0 ? [{ type: "text" as const, text: reply.text }] : []),
  ...reply.toolCalls.map((call) => ({ type: "tool-call" as const, id: call.id, name: call.name, params: call.params })),
  {
    type: "finish",
    reason: reply.finishReason,
    usage: {
      inputTokens: { uncached: usage.inputTokens, total: usage.inputTokens, cacheRead: 0, cacheWrite: undefined },
      outputTokens: { total: usage.outputTokens, text: usage.outputTokens, reasoning: 0 }
    }
  }
]

/**
 * A layer providing the minimal model: every answer after `delayMs` of real
 * time (`Effect.sleep`; at once for 0), or, with `park`, the last answer only once `park`
 * completes (for the heap of parked runs).
 */
export const layer = (options: {
  readonly delayMs: number
  readonly toolSteps: number
  readonly park?: ((request: DirectModel.Request) => Effect.Effect<void> | undefined) | undefined
}): Layer.Layer<LanguageModel.LanguageModel> => {
  const reply = replyTo(options.toolSteps)
  const wait = options.delayMs > 0 ? Effect.sleep(options.delayMs) : Effect.void
  const answer = (request: DirectModel.Request): Effect.Effect<DirectModel.Reply> =>
    Effect.as(options.park?.(request) ?? wait, reply(request))
  return Layer.effect(
    LanguageModel.LanguageModel,
    Effect.map(
      LanguageModel.make({
        generateText: (request) => Effect.map(answer({ ...request, tools: [], toolChoice: "auto", responseFormat: { type: "text" } }), partsOf),
        streamText: (request) =>
          Stream.fromIterableEffect(
            Effect.map(answer({ ...request, tools: [], toolChoice: "auto", responseFormat: { type: "text" } }), partsOf)
          ) as Stream.Stream<Response.StreamPartEncoded>
      }),
      (model) => DirectModel.attach(model, { generate: answer, modelId: "minimal" })
    )
  )
}

/**
 * The double's own cost: `runs` fibers at once, each making the `steps`
 * calls of a run through the fast path directly (the same requests an agent
 * run sends, built once), nothing else.
 */
export const callsAlone = (runs: number, steps: number, delayMs: number): Effect.Effect<void> => {
  const reply = replyTo(steps - 1)
  const wait = Effect.sleep(delayMs)
  const requests: Array<DirectModel.Request> = []
  let messages: Array<Prompt.Message> = [Prompt.userMessage({ content: [Prompt.textPart({ text: "Where are my orders?" })] })]
  for (let step = 0; step < steps; step++) {
    const prompt = Prompt.fromMessages(messages)
    requests.push({ prompt, tools: [], toolChoice: "auto", responseFormat: { type: "text" } })
    const call = reply({ prompt }).toolCalls[0]
    if (call === undefined) break
    messages = [
      ...messages,
      Prompt.assistantMessage({ content: [Prompt.toolCallPart({ ...call, providerExecuted: false })] }),
      Prompt.toolMessage({
        content: [Prompt.toolResultPart({ id: call.id, name: call.name, isFailure: false, result: {}, providerExecuted: false })]
      })
    ]
  }
  const one = Effect.gen(function*() {
    for (const request of requests) yield* Effect.as(wait, reply(request))
  })
  return Effect.forEach(Array.from({ length: runs }), () => one, { concurrency: "unbounded", discard: true })
}

/**
 * The least an agent loop built on effect's `Prompt`, `Tool` and `Schema`
 * does per run: build each request from the history, call the model's fast
 * path, decode the tool call's parameters, run the handler, encode its result
 * and append the two messages; no journal, events, budget, window, retry or
 * failure handling. What it costs is the floor of any effect-based agent,
 * beside which the `Agent`'s own cost is read: in the scale figures, on the
 * minimal model double (`npm run bench`, section Scale; `cpu.ts bare`), and
 * in the 5-step tool loop, on `OpenAiLanguageModel` (section 1; `cpu.ts loop`).
 */
import { DirectModel } from "@effect-harness/core"
import { Effect, Schema } from "effect"
import { LanguageModel, Prompt, Tool, Toolkit } from "effect/ai"

/** The tool of the scale runs. */
export const Lookup = Tool.make("lookup", {
  parameters: Schema.Struct({ orderId: Schema.String }),
  success: Schema.Struct({ orderId: Schema.String, status: Schema.String })
})

/** The same tool for an `Agent`: its toolkit, and the layer of its handler. */
export const LookupKit = Toolkit.make(Lookup)

export const LookupHandlers = LookupKit.toLayer({ lookup: ({ orderId }) => Effect.succeed({ orderId, status: "shipped" }) })

// One empty `options` for every part and message (effect's constructors give
// each a fresh `{}` otherwise), as the Agent does: the least a loop holds.
const options: Prompt.ProviderOptions = Object.freeze({})

interface Loop<P> {
  readonly question: string
  readonly tools: ReadonlyArray<Tool.Any>
  readonly decode: (params: unknown) => Effect.Effect<P, unknown>
  readonly encode: (params: P) => Effect.Effect<unknown, unknown>
}

// (a module-level generator: one made per run would give each run's generator
// a prototype of its own)
function* steps<P>(loop: Loop<P>, model: DirectModel.Resolved, maxSteps: number) {
  const history: Array<Prompt.Message> = [
    Prompt.userMessage({ content: [Prompt.textPart({ text: loop.question, options })], options })
  ]
  for (let step = 0; step < maxSteps; step++) {
    const reply = yield* model.generate({
      prompt: Prompt.fromMessages(history.slice()),
      tools: loop.tools,
      toolChoice: "auto",
      responseFormat: { type: "text" }
    })
    const call = reply.toolCalls[0]
    if (call === undefined) return reply.text
    const params = yield* loop.decode(call.params)
    const result = yield* loop.encode(params)
    history.push(
      Prompt.assistantMessage({
        content: [Prompt.toolCallPart({ id: call.id, name: call.name, params: call.params, providerExecuted: false, options })],
        options
      }),
      Prompt.toolMessage({
        content: [Prompt.toolResultPart({ id: call.id, name: call.name, isFailure: false, result, providerExecuted: false, options })],
        options
      })
    )
  }
  return ""
}

/**
 * A bare loop over one tool: runs until the model answers without a tool call
 * (at most `maxSteps` model calls).
 */
export const make = <T extends Tool.Any>(
  tool: T,
  handle: (params: Tool.Parameters<T>) => Tool.Success<T>,
  question: string
) => {
  const decode = Schema.decodeUnknownEffect(tool.parametersSchema as unknown as Schema.Codec<Tool.Parameters<T>, unknown>)
  const encode = Schema.encodeUnknownEffect(tool.successSchema as unknown as Schema.Codec<unknown, unknown>)
  const loop: Loop<Tool.Parameters<T>> = { question, tools: [tool], decode, encode: (params) => encode(handle(params)) }
  return (model: DirectModel.Resolved, maxSteps: number): Effect.Effect<string, unknown> =>
    Effect.gen(() => steps(loop, model, maxSteps))
}

/** One scale run on {@link Lookup}. */
export const run: (model: DirectModel.Resolved, maxSteps: number) => Effect.Effect<string, unknown> = make(
  Lookup,
  ({ orderId }) => ({ orderId, status: "shipped" }),
  "Where are my orders?"
)

/**
 * `n` scale runs on the context's model (its `DirectModel` fast path), one
 * after the other, or all at once with `concurrency: "unbounded"`.
 */
export const runs = (
  n: number,
  maxSteps: number,
  concurrency?: "unbounded"
): Effect.Effect<void, unknown, LanguageModel.LanguageModel> =>
  Effect.flatMap(Effect.service(LanguageModel.LanguageModel), (lm) => {
    const model = DirectModel.of(lm)
    return Effect.forEach(Array.from({ length: n }), () => run(model, maxSteps), { concurrency, discard: true })
  })

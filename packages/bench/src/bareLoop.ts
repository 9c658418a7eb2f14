/**
 * The least an agent loop built on effect's `Prompt`, `Tool` and `Schema`
 * does per run: build each request from the history, call the model's fast
 * path, decode the tool call's parameters, run the handler, encode its result
 * and append the two messages; no journal, events, budget, window, retry or
 * failure handling. What it costs is the floor of any effect-based agent,
 * beside which the `Agent`'s own cost is read: in the scale figures, on the
 * minimal model double (`npm run bench`, section Scale; `cpu.ts bare`), and
 * in the 5-step tool loop, on `OpenAiLanguageModel` (section 1; `cpu.ts loop`).
 * Streamed ({@link makeStreamed}): the same loop with each step's parts
 * handed to the consumer as they arrive, pulled through or, as `Agent.stream`
 * hands over its events, from a fiber of its own through effect's queue
 * ({@link throughQueue}); beside `Agent.stream` (section 1;
 * `cpu.ts timeline --streamed`).
 */
import { DirectModel } from "@effect-harness/core"
import { Effect, Queue, Schema, Stream } from "effect"
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

const textFormat: DirectModel.ResponseFormat = { type: "text" }

const firstMessage = (question: string): Prompt.Message =>
  Prompt.userMessage({ content: [Prompt.textPart({ text: question, options })], options })

const request = (tools: ReadonlyArray<Tool.Any>, history: ReadonlyArray<Prompt.Message>): DirectModel.Request => ({
  prompt: Prompt.fromMessages(history.slice()),
  tools,
  toolChoice: "auto",
  responseFormat: textFormat
})

// The tool call and its result appended to the history.
const appendToolRound = (history: Array<Prompt.Message>, call: DirectModel.ToolCall, result: unknown): void => {
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

// (a module-level generator: one made per run would give each run's generator
// a prototype of its own)
function* steps<P>(loop: Loop<P>, model: DirectModel.Resolved, maxSteps: number) {
  const history = [firstMessage(loop.question)]
  for (let step = 0; step < maxSteps; step++) {
    const reply = yield* model.generate(request(loop.tools, history))
    const call = reply.toolCalls[0]
    if (call === undefined) return reply.text
    const params = yield* loop.decode(call.params)
    appendToolRound(history, call, yield* loop.encode(params))
  }
  return ""
}

// The streamed loop: each step's parts go to the consumer as its stream gives
// them (no queue or fiber of its own: the consumer pulls the model's stream
// through), and the step's tool call runs when that stream ends.
const streamedSteps = <P>(
  loop: Loop<P>,
  model: DirectModel.Resolved,
  history: Array<Prompt.Message>,
  left: number
): Stream.Stream<DirectModel.StreamPart, unknown> =>
  Stream.suspend(() => {
    let call: DirectModel.ToolCall | undefined
    const parts = Stream.mapArray(model.stream(request(loop.tools, history)), (parts) => {
      for (const part of parts) if (part.type === "tool-call") call ??= part
      return parts
    })
    const next = Effect.suspend(() =>
      call === undefined || left <= 1
        ? Effect.succeed(Stream.empty)
        : Effect.map(Effect.flatMap(loop.decode(call.params), loop.encode), (result) => {
          appendToolRound(history, call!, result)
          return streamedSteps(loop, model, history, left - 1)
        })
    )
    return Stream.concat(parts, Stream.unwrap(next))
  })

const loopOf = <T extends Tool.Any>(
  tool: T,
  handle: (params: Tool.Parameters<T>) => Tool.Success<T>,
  question: string
): Loop<Tool.Parameters<T>> => {
  const decode = Schema.decodeUnknownEffect(tool.parametersSchema as unknown as Schema.Codec<Tool.Parameters<T>, unknown>)
  const encode = Schema.encodeUnknownEffect(tool.successSchema as unknown as Schema.Codec<unknown, unknown>)
  return { question, tools: [tool], decode, encode: (params) => encode(handle(params)) }
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
  const loop = loopOf(tool, handle, question)
  return (model: DirectModel.Resolved, maxSteps: number): Effect.Effect<string, unknown> =>
    Effect.gen(() => steps(loop, model, maxSteps))
}

/**
 * The same loop streamed: every step a stream of the model's parts (its text
 * deltas as they arrive), which the consumer reads as the run goes.
 */
export const makeStreamed = <T extends Tool.Any>(
  tool: T,
  handle: (params: Tool.Parameters<T>) => Tool.Success<T>,
  question: string
) => {
  const loop = loopOf(tool, handle, question)
  return (model: DirectModel.Resolved, maxSteps: number): Stream.Stream<DirectModel.StreamPart, unknown> =>
    Stream.suspend(() => streamedSteps(loop, model, [firstMessage(question)], maxSteps))
}

/**
 * A stream run as `Agent.stream` runs an agent: in a fiber of its own, its
 * elements handed to the consumer through effect's queue (`Stream.callback`)
 * as they come. The least a loop that is an effect, not a stream, does to be
 * consumed while it runs.
 */
export const throughQueue = <A, E>(stream: Stream.Stream<A, E>): Stream.Stream<A, E> =>
  Stream.callback<A, E>((queue) =>
    Effect.andThen(
      Stream.runForEachArray(stream, (elements) =>
        Effect.sync(() => {
          for (const element of elements) Queue.offerUnsafe(queue, element)
        })),
      Queue.end(queue)
    )
  )

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

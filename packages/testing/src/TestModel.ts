/**
 * A scripted `LanguageModel`: it answers each request with the next reply of
 * a script (text, JSON, tool calls or an error), records every request it
 * received, and fails loudly when the script runs out. It provides core's
 * `DirectModel` too, as real providers do, streams included: a streamed reply
 * (`Harness.streamText`) comes one word per text delta, then its tool calls
 * and the finish part.
 *
 * @example
 * ```ts
 * import { Harness } from "@effect-harness/core"
 * import { TestModel } from "@effect-harness/testing"
 * import { Effect, Schema } from "effect"
 *
 * const greet = Harness.prompt({ name: "greet", output: Schema.String, render: (name: string) => `Greet ${name}` })
 *
 * const program = Harness.run(greet, "Ada").pipe(
 *   Effect.provide(TestModel.layer([TestModel.text("Hello, Ada!")]))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { DirectModel, HarnessError } from "@effect-harness/core"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { AiError, LanguageModel, type Prompt, type Response } from "effect/ai"
import * as Scripted from "./internal/scriptedReply.ts"
import {
  directUsage,
  estimateTokens,
  finishPart,
  promptText,
  RecordedRequest,
  toReason
} from "./internal/scriptedReply.ts"
import { advanceUntil } from "./internal/clockAdvance.ts"

/**
 * Token counts a reply reports: `{ inputTokens, outputTokens }`.
 *
 * @since 0.1.0
 */
export type Usage = Scripted.Usage

/**
 * One scripted reply.
 *
 * @since 0.1.0
 */
export type Reply =
  | {
    readonly _tag: "Text"
    readonly text: string
    readonly finishReason?: Response.FinishReason | undefined
    readonly usage?: Usage | undefined
  }
  | {
    readonly _tag: "ToolCalls"
    readonly calls: ReadonlyArray<ToolCall>
    readonly text?: string | undefined
    readonly usage?: Usage | undefined
  }
  | { readonly _tag: "Fail"; readonly error: HarnessError.HarnessError | AiError.AiErrorReason }
  | {
    readonly _tag: "Respond"
    readonly respond: (request: Request) => Effect.Effect<Reply>
  }

/**
 * A tool call in a scripted reply; the id defaults to `call_<n>`.
 *
 * @since 0.1.0
 */
export interface ToolCall {
  readonly name: string
  readonly params: unknown
  readonly id?: string | undefined
}

/**
 * What the model received for one call: the prompt, the tools' names, the
 * tool choice, the response format, and the text of the last user message
 * (`lastUserText`, for quick assertions).
 *
 * @since 0.1.0
 */
export type Request = Scripted.Request

/**
 * A reply with plain text.
 *
 * @since 0.1.0
 */
export const text = (
  text: string,
  options?: { readonly finishReason?: Response.FinishReason | undefined; readonly usage?: Usage | undefined }
): Reply => ({ _tag: "Text", text, finishReason: options?.finishReason, usage: options?.usage })

/**
 * A model answer whose text is the JSON encoding of `value`: what a model
 * asked for structured output says (`Harness.prompt` with a non-text
 * `output`, an agent's `output`). The harness decodes it with its Schema, so
 * a `value` that does not match makes an invalid answer to repair.
 *
 * @example
 * ```ts
 * import { TestModel } from "@effect-harness/testing"
 *
 * const model = TestModel.layer([
 *   TestModel.jsonAnswer({ total: "7.50" }), // invalid: a string, sent back for repair
 *   TestModel.jsonAnswer({ total: 7.5 })
 * ])
 * ```
 *
 * @since 0.1.0
 */
export const jsonAnswer = (value: unknown, options?: { readonly usage?: Usage | undefined }): Reply =>
  text(JSON.stringify(value), options)

/**
 * @deprecated Renamed {@link jsonAnswer} (a model answer whose text is JSON,
 * not an HTTP JSON response: that is `FakeOpenAiServer.jsonResponse`). Kept
 * for one release.
 * @since 0.1.0
 */
export const json: (value: unknown, options?: { readonly usage?: Usage | undefined }) => Reply = jsonAnswer

/**
 * A reply that asks for one or more tool calls.
 *
 * @since 0.1.0
 */
export const toolCalls = (
  calls: ReadonlyArray<ToolCall>,
  options?: { readonly text?: string | undefined; readonly usage?: Usage | undefined }
): Reply => ({ _tag: "ToolCalls", calls, text: options?.text, usage: options?.usage })

/**
 * A reply that asks for one tool call.
 *
 * @since 0.1.0
 */
export const toolCall = (name: string, params: unknown, id?: string): Reply => toolCalls([{ name, params, id }])

/**
 * A reply that fails with the given error, as a provider would.
 *
 * @since 0.1.0
 */
export const fail = (error: HarnessError.HarnessError | AiError.AiErrorReason): Reply => ({ _tag: "Fail", error })

/**
 * A refusal: the model declines to answer (a content-policy failure).
 *
 * @since 0.1.0
 */
export const refusal = (text: string): Reply =>
  fail(new HarnessError.ContentRefused({ message: "The model refused to answer", refusal: text }))

/**
 * A reply computed from the request (to echo it, count it, or branch on it).
 *
 * @since 0.1.0
 */
export const respond = (f: (request: Request) => Effect.Effect<Reply> | Reply): Reply => ({
  _tag: "Respond",
  respond: (request) => {
    const out = f(request)
    return Effect.isEffect(out) ? out : Effect.succeed(out)
  }
})

/**
 * The script ran out: the code under test made more model calls than the
 * test expected. Raised as a defect, since it is a bug in the test or the code.
 *
 * @since 0.1.0
 */
export class ScriptExhausted extends Schema.TaggedError<ScriptExhausted>()("ScriptExhausted", {
  calls: Schema.Int,
  lastUserText: Schema.String
}) {
  override get message(): string {
    return `TestModel: the script has no reply for call ${this.calls} (last user message: ${
      JSON.stringify(this.lastUserText.slice(0, 200))
    })`
  }
}

/**
 * The state of a scripted model, to read in assertions.
 *
 * @since 0.1.0
 */
export class TestModel extends Context.Service<TestModel, {
  /** Every request received, in order. */
  readonly requests: Effect.Effect<ReadonlyArray<Request>>
  /** Replies not used yet. */
  readonly remaining: Effect.Effect<number>
}>()("@effect-harness/testing/TestModel") {}

type Answer = { readonly reply: Exclude<Reply, { _tag: "Respond" }>; readonly request: Request }

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 */
export interface MakeOptions {
  /**
   * After each scripted failure, move `TestClock` forward (100 ms at a time)
   * until the model receives its next call, so a `Harness.retry()` that waits
   * after a scripted 429 or 503 completes under `it.effect` instead of
   * waiting for the test's timeout. Default false: the clock moves only when
   * the test moves it (`TestClock.adjust`, `VirtualTime.run`), for tests that
   * assert what happens when. Does nothing under `it.live`.
   */
  readonly advanceClock?: boolean | undefined
}

/**
 * Builds the scripted model service and its state, for use inside your own
 * layer.
 *
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(script: Iterable<Reply>, settings?: MakeOptions) {
  const queue = Array.from(script)
  let next = 0
  const requests: Array<Request> = []
  let calls = 0
  let nextId = 0

  const nextReply = (options: {
    readonly prompt: Prompt.Prompt
    readonly tools: ReadonlyArray<{ readonly name: string }>
    readonly toolChoice: LanguageModel.ToolChoice<string>
    readonly responseFormat: { readonly type: "text" | "json" }
  }) =>
    Effect.suspend(() => {
      const request = new RecordedRequest(options)
      requests.push(request)
      calls++
      const reply = queue[next++]
      if (reply === undefined) return Effect.die(new ScriptExhausted({ calls, lastUserText: request.lastUserText }))
      return resolve(reply, request)
    })

  // the reply with the request it answers (other requests may come in while a reply waits)
  const resolve = (reply: Reply, request: Request): Effect.Effect<Answer> =>
    reply._tag === "Respond"
      ? Effect.flatMap(reply.respond(request), (next) => resolve(next, request))
      : Effect.succeed({ reply, request })

  const usageOf = (request: Request, replyText: string, given: Usage | undefined): Usage =>
    given ?? { inputTokens: estimateTokens(promptText(request.prompt)), outputTokens: estimateTokens(replyText) }

  const fail = (error: HarnessError.HarnessError | AiError.AiErrorReason) => {
    const failure = Effect.fail(AiError.make({ module: "TestModel", method: "generateText", reason: toReason(error) }))
    if (settings?.advanceClock !== true) return failure
    // a retry sleeps before the next call: move TestClock until that call arrives
    const seen = calls
    return Effect.andThen(advanceUntil(() => calls !== seen), failure)
  }

  const toParts = (
    reply: Exclude<Reply, { _tag: "Respond" | "Fail" }>,
    request: Request
  ): Array<Response.PartEncoded> => {
    if (reply._tag === "Text") {
      return [
        { type: "text", text: reply.text },
        finishPart(reply.finishReason ?? "stop", usageOf(request, reply.text, reply.usage))
      ]
    }
    const parts: Array<Response.PartEncoded> = []
    if (reply.text !== undefined && reply.text.length > 0) parts.push({ type: "text", text: reply.text })
    for (const call of reply.calls) {
      parts.push({ type: "tool-call", id: call.id ?? `call_${++nextId}`, name: call.name, params: call.params })
    }
    parts.push(finishPart("tool-calls", usageOf(request, JSON.stringify(reply.calls), reply.usage)))
    return parts
  }

  const model = yield* LanguageModel.make({
    generateText: (options) =>
      Effect.flatMap(nextReply(options), ({ reply, request }) =>
        reply._tag === "Fail" ? fail(reply.error) : Effect.succeed(toParts(reply, request))),
    streamText: (options) =>
      Stream.unwrap(Effect.flatMap(nextReply(options), ({ reply, request }) => {
        if (reply._tag === "Fail") return fail(reply.error)
        const parts: Array<Response.StreamPartEncoded> = []
        for (const part of toParts(reply, request)) {
          if (part.type === "text") {
            const id = `text_${++nextId}`
            parts.push({ type: "text-start", id }, { type: "text-delta", id, delta: part.text }, {
              type: "text-end",
              id
            })
          } else parts.push(part as Response.StreamPartEncoded)
        }
        return Effect.succeed(Stream.fromIterable(parts))
      }))
  })

  // what `DirectModel.replyFromParts` reads out of `toParts`, built directly
  const directReply = (reply: Exclude<Reply, { _tag: "Respond" | "Fail" }>, request: Request): DirectModel.Reply =>
    reply._tag === "Text"
      ? {
        text: reply.text,
        toolCalls: [],
        finishReason: reply.finishReason ?? "stop",
        usage: directUsage(usageOf(request, reply.text, reply.usage))
      }
      : {
        text: reply.text ?? "",
        toolCalls: reply.calls.map((call) => ({ id: call.id ?? `call_${++nextId}`, name: call.name, params: call.params })),
        finishReason: "tool-calls",
        usage: directUsage(usageOf(request, JSON.stringify(reply.calls), reply.usage))
      }

  const direct: DirectModel.DirectModel = {
    generate: (options) =>
      Effect.flatMap(nextReply(options), ({ reply, request }) =>
        reply._tag === "Fail" ? fail(reply.error) : Effect.succeed(directReply(reply, request))),
    // the reply streamed: its text one word at a time, then the calls and the finish part
    stream: (options) =>
      Stream.unwrap(Effect.flatMap(nextReply(options), ({ reply, request }) => {
        if (reply._tag === "Fail") return fail(reply.error)
        const parts: Array<DirectModel.StreamPart> = []
        for (const part of DirectModel.replyToParts(directReply(reply, request))) {
          if (part.type !== "text-delta") parts.push(part)
          else for (const delta of words(part.delta)) parts.push({ type: "text-delta", delta })
        }
        return Effect.succeed(Stream.fromArray(parts))
      }))
  }

  const state = TestModel.of({
    requests: Effect.sync(() => requests.slice()),
    remaining: Effect.sync(() => Math.max(0, queue.length - next))
  })
  return { model, direct, state } as const
})

// a word and the spaces after it (leading spaces on their own): joined, the text again
const words = (text: string): Array<string> => text.match(/\S+\s*|\s+/g) ?? []

/**
 * A layer providing effect's `LanguageModel` answered from the script, and the
 * `TestModel` state to inspect what it received.
 *
 * @example
 * ```ts
 * import { TestModel } from "@effect-harness/testing"
 * import { HarnessError } from "@effect-harness/core"
 *
 * const flaky = TestModel.layer([
 *   TestModel.fail(new HarnessError.RateLimited({ message: "slow down" })),
 *   TestModel.jsonAnswer({ city: "Paris" })
 * ], { advanceClock: true }) // under it.effect, the retry's wait passes in virtual time
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  script: Iterable<Reply>,
  options?: MakeOptions & {
    /**
     * Attach the `DirectModel` fast path to the model, as real providers do
     * (default true). With `false`, harnesses go through effect's
     * `LanguageModel` only.
     */
    readonly direct?: boolean | undefined
  }
): Layer.Layer<LanguageModel.LanguageModel | TestModel> =>
  Layer.effectContext(Effect.map(make(script, options), ({ direct, model, state }) => {
    const languageModel = options?.direct === false ? model : DirectModel.attach(model, direct)
    return Context.make(LanguageModel.LanguageModel, languageModel).pipe(Context.add(TestModel, state))
  }))

/**
 * Every request the scripted model received, in order.
 *
 * @since 0.1.0
 */
export const requests: Effect.Effect<ReadonlyArray<Request>, never, TestModel> = Effect.flatMap(
  Effect.service(TestModel),
  (state) => state.requests
)

/**
 * How many replies of the script are still unused.
 *
 * @since 0.1.0
 */
export const remaining: Effect.Effect<number, never, TestModel> = Effect.flatMap(
  Effect.service(TestModel),
  (state) => state.remaining
)

/**
 * Deterministic fault injection for any effect `LanguageModel`: a layer that
 * wraps the model below it and, at a given rate and reproducibly from a seed,
 * makes calls fail the way real APIs fail (429 with retry-after, 5xx,
 * timeouts, connection resets, streams cut mid-way) or answer badly
 * (malformed JSON, truncated answers, refusals).
 *
 * The same seed gives the same faults on the same sequence of calls, so a
 * failing soak run can be replayed exactly.
 *
 * @example
 * ```ts
 * import { FaultInjection, TestModel } from "@effect-harness/testing"
 * import { Layer } from "effect"
 *
 * const flakyModel = FaultInjection.layer({ seed: 7, rate: 0.2 }).pipe(
 *   Layer.provideMerge(TestModel.layer([TestModel.text("hello")]))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { DirectModel, HarnessError } from "@effect-harness/core"
import { Context, Duration, Effect, Layer, Stream } from "effect"
import { AiError, LanguageModel, Response } from "effect/ai"

/**
 * The kinds of fault that can be injected.
 *
 * @since 0.1.0
 */
export type FaultKind =
  | "rate-limit"
  | "server-error"
  | "timeout"
  | "connection-reset"
  | "stream-cut"
  | "malformed-json"
  | "truncated"
  | "refusal"

/**
 * Every fault kind, in a stable order.
 *
 * @since 0.1.0
 */
export const faultKinds: ReadonlyArray<FaultKind> = [
  "rate-limit",
  "server-error",
  "timeout",
  "connection-reset",
  "stream-cut",
  "malformed-json",
  "truncated",
  "refusal"
]

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The seed of the pseudo-random sequence. */
  readonly seed: number
  /** The probability that a call gets a fault, from 0 to 1. */
  readonly rate: number
  /** Relative weights of the fault kinds (default: all 1). A weight of 0 disables a kind. */
  readonly weights?: Partial<Record<FaultKind, number>> | undefined
  /** The `retryAfter` of injected rate limits. Default 1 second. */
  readonly retryAfter?: Duration.Input | undefined
}

/**
 * One injected fault, as recorded.
 *
 * @since 0.1.0
 */
export interface Fault {
  /** The call it was injected into, from 1. */
  readonly call: number
  readonly kind: FaultKind
}

/**
 * What was injected so far.
 *
 * @since 0.1.0
 */
export class FaultInjection extends Context.Service<FaultInjection, {
  /** Every injected fault, in order. */
  readonly faults: Effect.Effect<ReadonlyArray<Fault>>
  /** How many calls went through the wrapper. */
  readonly calls: Effect.Effect<number>
}>()("@effect-harness/testing/FaultInjection") {}

/**
 * A small, fast, seedable PRNG (mulberry32): the same seed gives the same
 * sequence on every platform.
 *
 * @since 0.1.0
 */
export const prng = (seed: number): () => number => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const fail = (reason: AiError.AiErrorReason) =>
  Effect.fail(AiError.make({ module: "FaultInjection", method: "generateText", reason }))

const cutText = (text: string) => text.slice(0, Math.max(0, Math.floor(text.length / 2)))

/** The error a fault that needs no answer becomes. */
const errorFor = (kind: FaultKind, retryAfter: Duration.Duration): HarnessError.HarnessError | undefined => {
  switch (kind) {
    case "rate-limit":
      return new HarnessError.RateLimited({ message: "Injected: rate limit reached", retryAfter, status: 429 })
    case "server-error":
      return new HarnessError.ProviderUnavailable({ message: "Injected: the server had an error", status: 500 })
    case "timeout":
      return new HarnessError.Timeout({ message: "Injected: request timed out" })
    case "connection-reset":
      return new HarnessError.ConnectionFailed({ message: "Injected: connection reset (ECONNRESET)" })
    case "refusal":
      return new HarnessError.ContentRefused({ message: "Injected refusal", refusal: "I'm sorry, I can't help with that." })
    default:
      return undefined
  }
}

const partialOf = (content: ReadonlyArray<Response.AllParts<any>>): HarnessError.PartialResponse => {
  let text = ""
  const toolCalls: Array<HarnessError.PartialResponse["toolCalls"][number]> = []
  for (const part of content) {
    if (part.type === "text") text += part.text
    else if (part.type === "tool-call") toolCalls.push({ id: part.id, name: part.name, params: part.params })
  }
  // the cut happened before the last call was complete
  return { text: cutText(text), toolCalls: toolCalls.slice(0, Math.max(0, toolCalls.length - 1)) }
}

/**
 * The seeded draw shared by the model wrapper and `FakeOpenAiServer`'s fault
 * mode: for each call, whether it gets a fault and which kind, recorded.
 *
 * @since 0.1.0
 */
export const makeDrawer = (options: Options) => {
  const random = prng(options.seed)
  const kinds = faultKinds.filter((kind) => (options.weights?.[kind] ?? 1) > 0)
  const totalWeight = kinds.reduce((sum, kind) => sum + (options.weights?.[kind] ?? 1), 0)
  const faults: Array<Fault> = []
  let calls = 0
  const draw = (): FaultKind | undefined => {
    calls++
    if (kinds.length === 0 || random() >= options.rate) return undefined
    let pick = random() * totalWeight
    for (const kind of kinds) {
      pick -= options.weights?.[kind] ?? 1
      if (pick < 0) {
        faults.push({ call: calls, kind })
        return kind
      }
    }
    return undefined
  }
  return { draw, faults, calls: () => calls } as const
}

/**
 * Builds the wrapping model and its record of faults around `inner`.
 *
 * @since 0.1.0
 */
export const make = (model: LanguageModel.LanguageModel, options: Options) => {
  // the wrapper forwards whatever options it gets, so it works on the loosely typed service
  const inner = model as any
  const drawer = makeDrawer(options)
  const { draw, faults } = drawer
  const retryAfter = Duration.fromInputUnsafe(options.retryAfter ?? "1 second")

  const streamCut = (content: ReadonlyArray<Response.AllParts<any>>) =>
    fail(HarnessError.toAiErrorReason(
      new HarnessError.ConnectionFailed({ message: "Injected: the stream was cut mid-way", partial: partialOf(content) })
    ))

  // Corrupts a decoded answer after the real call, as a broken provider would.
  const corrupt = (kind: FaultKind, response: LanguageModel.GenerateTextResponse<any>) => {
    const hasToolCalls = response.content.some((part) => part.type === "tool-call")
    if (kind === "stream-cut" || hasToolCalls) return streamCut(response.content)
    const content = response.content.map((part) => {
      if (part.type === "text") {
        const text = kind === "truncated" ? cutText(part.text) : `${part.text.slice(0, -1)},}`
        return Response.makePart("text", { text })
      }
      if (part.type === "finish" && kind === "truncated") {
        return Response.makePart("finish", { reason: "length", usage: part.usage, response: undefined })
      }
      return part
    })
    return Effect.succeed(new LanguageModel.GenerateTextResponse(content))
  }

  const generateText = (opts: any): Effect.Effect<any, any, any> =>
    Effect.suspend(() => {
      const kind = draw()
      if (kind === undefined) return inner.generateText(opts)
      const error = errorFor(kind, retryAfter)
      if (error !== undefined) return fail(HarnessError.toAiErrorReason(error))
      return Effect.flatMap(inner.generateText(opts), (response: LanguageModel.GenerateTextResponse<any>) =>
        corrupt(kind, response))
    })

  const generateObject = (opts: any): Effect.Effect<any, any, any> =>
    Effect.suspend(() => {
      const kind = draw()
      if (kind === undefined) return inner.generateObject(opts)
      const error = errorFor(kind, retryAfter)
      if (error !== undefined) return fail(HarnessError.toAiErrorReason(error))
      return Effect.flatMap(inner.generateObject(opts), (response: LanguageModel.GenerateObjectResponse<any, unknown>) => {
        if (kind === "stream-cut") return streamCut(response.content)
        const responseText = kind === "truncated" ? cutText(response.text) : `${response.text.slice(0, -1)},}`
        return fail(new AiError.StructuredOutputError({ description: "Injected: the answer is not valid JSON", responseText }))
      })
    })

  const streamText = (opts: any): Stream.Stream<any, any, any> =>
    Stream.suspend(() => {
      const kind = draw()
      if (kind === undefined) return inner.streamText(opts)
      const error = errorFor(kind, retryAfter)
      if (error !== undefined) return Stream.fromEffect(fail(HarnessError.toAiErrorReason(error)))
      // every answer fault of a stream shows up as a stream cut after its first parts
      const seen: Array<Response.AllParts<any>> = []
      return inner.streamText(opts).pipe(
        Stream.take(2),
        Stream.tap((part: any) => Effect.sync(() => seen.push(part))),
        Stream.concat(Stream.fromEffect(Effect.suspend(() => streamCut(seen))))
      )
    })

  // The fast path of harnesses (DirectModel) gets the same faults.
  const generateDirect = (direct: DirectModel.DirectModel) => (request: DirectModel.Request) =>
    Effect.suspend(() => {
      const kind = draw()
      if (kind === undefined) return direct.generate(request)
      const error = errorFor(kind, retryAfter)
      if (error !== undefined) return fail(HarnessError.toAiErrorReason(error))
      return Effect.flatMap(direct.generate(request), (reply): Effect.Effect<DirectModel.Reply, AiError.AiError> => {
        if (kind === "stream-cut" || reply.toolCalls.length > 0) {
          return fail(HarnessError.toAiErrorReason(
            new HarnessError.ConnectionFailed({
              message: "Injected: the stream was cut mid-way",
              partial: { text: cutText(reply.text), toolCalls: reply.toolCalls.slice(0, -1) }
            })
          ))
        }
        return kind === "truncated"
          ? Effect.succeed({ ...reply, text: cutText(reply.text), finishReason: "length" })
          : Effect.succeed({ ...reply, text: `${reply.text.slice(0, -1)},}` })
      })
    })

  const wrapped: LanguageModel.LanguageModel = {
    ...model,
    generateText: generateText as any,
    generateObject: generateObject as any,
    streamText: streamText as any
  }
  const state = FaultInjection.of({
    faults: Effect.sync(() => faults.slice()),
    calls: Effect.sync(() => drawer.calls())
  })
  // Its stream too, when it has one (otherwise harnesses stream through the
  // wrapped LanguageModel): an answer fault is a cut after the first parts,
  // with exactly what they delivered as the partial answer.
  const streamDirect = (stream: NonNullable<DirectModel.DirectModel["stream"]>) =>
  (request: DirectModel.Request): Stream.Stream<DirectModel.StreamPart, AiError.AiError> =>
    Stream.suspend(() => {
      const kind = draw()
      if (kind === undefined) return stream(request)
      const error = errorFor(kind, retryAfter)
      if (error !== undefined) return Stream.fromEffect(fail(HarnessError.toAiErrorReason(error)))
      let text = ""
      const toolCalls: Array<DirectModel.ToolCall> = []
      return stream(request).pipe(
        Stream.take(2),
        Stream.tap((part) =>
          Effect.sync(() => {
            if (part.type === "text-delta") text += part.delta
            else if (part.type === "tool-call") toolCalls.push({ id: part.id, name: part.name, params: part.params })
          })
        ),
        Stream.concat(Stream.fromEffect(Effect.suspend(() =>
          fail(HarnessError.toAiErrorReason(
            new HarnessError.ConnectionFailed({ message: "Injected: the stream was cut mid-way", partial: { text, toolCalls } })
          ))
        )))
      )
    })

  const wrapDirect = (direct: DirectModel.DirectModel): DirectModel.DirectModel =>
    direct.stream === undefined
      ? { generate: generateDirect(direct) }
      : { generate: generateDirect(direct), stream: streamDirect(direct.stream) }
  return { model: wrapped, wrapDirect, state } as const
}

/**
 * A layer that wraps the `LanguageModel` it is provided with and injects
 * faults into its calls; it also provides `FaultInjection` to read what was
 * injected.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<LanguageModel.LanguageModel | FaultInjection, never, LanguageModel.LanguageModel> =>
  Layer.effectContext(Effect.gen(function*() {
    const { model, state, wrapDirect } = make(yield* Effect.service(LanguageModel.LanguageModel), options)
    // the inner model's fast path, when it has one, gets the same faults
    const inner = DirectModel.fastPathOf(yield* Effect.service(LanguageModel.LanguageModel))
    const faulty = inner === undefined ? model : DirectModel.attach(model, wrapDirect(inner))
    return Context.make(LanguageModel.LanguageModel, faulty).pipe(Context.add(FaultInjection, state))
  }))

/**
 * Every fault injected so far, in order.
 *
 * @since 0.1.0
 */
export const faults: Effect.Effect<ReadonlyArray<Fault>, never, FaultInjection> = Effect.flatMap(
  Effect.service(FaultInjection),
  (state) => state.faults
)

/**
 * Counts of injected faults by kind (every kind present, zero included).
 *
 * @since 0.1.0
 */
export const countsByKind: Effect.Effect<Record<FaultKind, number>, never, FaultInjection> = Effect.map(
  faults,
  (all) => {
    const counts = Object.fromEntries(faultKinds.map((kind) => [kind, 0])) as Record<FaultKind, number>
    for (const fault of all) counts[fault.kind]++
    return counts
  }
)

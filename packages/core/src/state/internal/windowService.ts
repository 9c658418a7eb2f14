/**
 * The context window service: counting with a per-message cache, and the
 * preparation of a request (compaction, then truncation) on top of the
 * trackers of `window.ts`.
 *
 * @internal
 */
import { type Context, Effect, Schema } from "effect"
import { Prompt, Tool, type Tokenizer } from "effect/ai"
import type { Prepared, PrepareInput, Service, Strategy } from "../ContextWindow.ts"
import * as Journal from "../../durable/Journal.ts"
import * as W from "./window.ts"

export interface Config {
  readonly maxTokens: number
  readonly reserve: number
  readonly strategy: Strategy<any>
  readonly tokenizer: Tokenizer.Service
  readonly context: Context.Context<any>
  readonly summaryMessage: (text: string) => Prompt.Message
  readonly summaryText: (message: Prompt.Message) => string
}

export const makeService = (config: Config): Service => {
  const { strategy, tokenizer } = config
  const counts = new WeakMap<Prompt.Message, number>()
  const toolCounts = new WeakMap<ReadonlyArray<Tool.Any>, number>()
  const trackers = new WeakMap<object, W.Tracker>()

  const tokenize = (input: Prompt.RawInput) =>
    // a tokenizer that fails is broken, not a condition the run can handle
    Effect.orDie(Effect.map(tokenizer.tokenize(input), (tokens) => tokens.length))

  const count = (message: Prompt.Message): Effect.Effect<number> => {
    const cached = counts.get(message)
    if (cached !== undefined) return Effect.succeed(cached)
    return Effect.map(tokenize(Prompt.fromMessages([message])), (n) => {
      counts.set(message, n)
      return n
    })
  }

  // Tokens of the tool definitions sent with each request, once per tools array.
  const countTools = (tools: ReadonlyArray<Tool.Any>): Effect.Effect<number> => {
    if (tools.length === 0) return Effect.succeed(0)
    const cached = toolCounts.get(tools)
    if (cached !== undefined) return Effect.succeed(cached)
    const text = JSON.stringify(tools.map((tool) => ({
      name: tool.name,
      description: Tool.getDescription(tool),
      parameters: Tool.getJsonSchema(tool)
    })))
    return Effect.map(tokenize(text), (n) => {
      toolCounts.set(tools, n)
      return n
    })
  }

  const countAt = (history: ReadonlyArray<Prompt.Message>) => (index: number) => counts.get(history[index]!)!

  // Counts what was appended since the tracker last looked (only that).
  const sync = Effect.fnUntraced(function*(tracker: W.Tracker, history: ReadonlyArray<Prompt.Message>) {
    if (!W.extendsTracked(tracker, history)) W.resetTracker(tracker)
    for (let i = tracker.counted; i < history.length; i++) {
      const message = history[i]!
      const cached = counts.get(message)
      tracker.tail += cached !== undefined ? cached : yield* count(message)
    }
    tracker.counted = history.length
    tracker.last = history[history.length - 1]
  })

  const compactHistory = Effect.fnUntraced(function*(
    tracker: W.Tracker,
    history: ReadonlyArray<Prompt.Message>,
    limit: number,
    summarize: Extract<Strategy<any>, { _tag: "Compact" }>
  ) {
    const at = countAt(history)
    let total = 0
    for (let i = 0; i < history.length; i++) total += at(i)
    const end = W.foldEnd(history, at, total, summarize.target * limit)
    if (end === 0) return undefined
    const folded = history.slice(0, end)
    const summaries = folded.filter(W.isSummary)
    const previous = summaries.length === 0 ? undefined : summaries.map(config.summaryText).join("\n")
    const toFold = folded.filter((message) => !W.isKept(message))
    const kept = folded.filter((message) => W.isKept(message) && !W.isSummary(message))
    const text = yield* Journal.step(
      { kind: "compaction", name: "ContextWindow.compact", request: { folded: end, tokens: total } },
      Schema.String,
      Effect.provideContext(summarize.summarize.run({ previous, messages: toFold }), config.context)
    )
    const replacement = [...kept, config.summaryMessage(text)]
    const rewritten = replacement.concat(history.slice(end))
    W.resetTracker(tracker)
    yield* sync(tracker, rewritten)
    return { count: end, replacement, rewritten }
  })

  const prepare = Effect.fnUntraced(function*(owner: object, input: PrepareInput) {
    let tracker = trackers.get(owner)
    if (tracker === undefined) {
      tracker = W.makeTracker()
      trackers.set(owner, tracker)
    }
    let history = input.history
    yield* sync(tracker, history)
    let fixedTokens = 0
    for (const message of input.fixed) fixedTokens += yield* count(message)
    const overhead = fixedTokens + (input.tools === undefined ? 0 : yield* countTools(input.tools))
    let limit = config.maxTokens - config.reserve - overhead
    const before = tracker.pinnedTokens + tracker.tail
    if (input.force === true) limit = Math.min(limit, Math.floor(before / 2))

    let compaction: Prepared["compaction"]
    if (before > limit && strategy._tag === "Compact") {
      const compacted = yield* compactHistory(tracker, history, limit, strategy)
      if (compacted !== undefined) {
        history = compacted.rewritten
        compaction = { count: compacted.count, replacement: compacted.replacement, tokensBefore: before + overhead }
      }
    }
    W.truncate(tracker, history, countAt(history), limit)

    // one preallocated copy of what is sent (the only work proportional to it)
    const { fixed } = input
    const { cut, pinned } = tracker
    const messages = new Array<Prompt.Message>(fixed.length + pinned.length + history.length - cut)
    let k = 0
    for (let i = 0; i < fixed.length; i++) messages[k++] = fixed[i]!
    for (let i = 0; i < pinned.length; i++) messages[k++] = pinned[i]!
    for (let i = cut; i < history.length; i++) messages[k++] = history[i]!
    const prepared: Prepared = {
      messages,
      tokens: overhead + tracker.pinnedTokens + tracker.tail,
      tokensBefore: before + overhead,
      truncated: tracker.cut - tracker.pinned.length,
      compaction
    }
    return prepared
  })

  return { maxTokens: config.maxTokens, reserve: config.reserve, count, prepare }
}

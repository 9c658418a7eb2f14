/**
 * Section 3, state: what keeping a conversation costs per step as it grows.
 *
 * - `ContextWindow.prepare` per step at 10, 100 and 1,000 turns of history
 *   (a turn is one message), with `OpenAiTokenizer` counting: each sample
 *   appends one tool round (2 messages) to a history of that length and
 *   prepares the next request (counting the new messages, truncating to the
 *   window: 16,000 tokens, so the 1,000-turn history is being truncated).
 *   Each sample uses its own history (its own running totals), so every
 *   sample is one step at that length.
 * - a whole 1-step `Agent` run inside a `Conversation` of that length, with
 *   the same window (the model answers at once), for the step's total cost.
 * - tokens counted per second by `OpenAiTokenizer` (gpt-4o's o200k encoding).
 */
import { Agent, ContextWindow, Conversation } from "@effect-harness/core"
import { OpenAiTokenizer } from "@effect-harness/openai"
import { TestModel } from "@effect-harness/testing"
import { Context, Effect, Layer } from "effect"
import { Prompt, Tokenizer } from "effect/ai"
import { format, percentile } from "./measure.ts"
import { type Report } from "./report.ts"

const lengths = [10, 100, 1_000] as const
const model = "gpt-4o-mini"

const vocabulary = (
  "order shipping refund invoice customer account password delivery warehouse tracking address payment card " +
  "the a of to and in is it for on with as was at by an be this that from or have not are but had they you " +
  "Monday Thursday Paris Berlin parcel number status delayed returned replaced 42 2024 A-1001 B-77 urgent"
).split(" ")

// deterministic pseudo-random text, so every run counts the same tokens
let seed = 7
const nextWord = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648
  return vocabulary[seed % vocabulary.length]!
}
const sentence = (words: number) => Array.from({ length: words }, nextWord).join(" ")

const turn = (i: number): Prompt.Message =>
  i % 2 === 0
    ? Prompt.userMessage({ content: [Prompt.textPart({ text: sentence(24) })] })
    : Prompt.assistantMessage({ content: [Prompt.textPart({ text: sentence(40) })] })

const toolRound = (id: string): Array<Prompt.Message> => [
  Prompt.assistantMessage({
    content: [Prompt.toolCallPart({ id, name: "lookup", params: { orderId: id, fields: ["status"] }, providerExecuted: false })]
  }),
  Prompt.toolMessage({
    content: [
      Prompt.toolResultPart({ id, name: "lookup", isFailure: false, result: { status: sentence(12) }, providerExecuted: false })
    ]
  })
]

const median = (samples: Array<number>) => percentile(samples.sort((a, b) => a - b), 0.5)
const p95 = (samples: Array<number>) => percentile(samples.sort((a, b) => a - b), 0.95)

export const runState = async (report: Report, options: { readonly scale: number }): Promise<void> => {
  const section = "state"
  const samples = Math.max(30, Math.round(300 * options.scale))
  const windowLayer = OpenAiTokenizer.layerContextWindow(model, { maxTokens: 16_000, reserve: 1_000 })
  const context = await Effect.runPromise(Layer.build(Layer.mergeAll(windowLayer, OpenAiTokenizer.layer(model))).pipe(Effect.scoped))
  const window = Context.get(context, ContextWindow.ContextWindow)
  const tokenizer = Context.get(context, Tokenizer.Tokenizer)
  const fixed = [Prompt.systemMessage({ content: "You are a support agent. Be brief." })]
  const base = Array.from({ length: lengths[lengths.length - 1] }, (_, i) => turn(i))

  report.print("== 3. State ==")
  report.print()

  // ContextWindow.prepare per step
  let round = 0
  const measurePrepare = async (length: number, count: number) => {
    round++
    const histories = Array.from({ length: count }, () => base.slice(0, length))
    // every history's running totals exist before its timed step
    for (const history of histories) await Effect.runPromise(window.prepare(history, { fixed, history }))
    const times: Array<number> = []
    histories.forEach((history, i) => {
      history.push(...toolRound(`call_${round}_${i}`))
      const start = performance.now()
      Effect.runSync(window.prepare(history, { fixed, history }))
      times.push((performance.now() - start) * 1000)
    })
    return { median: median(times), p95: p95(times) }
  }
  // warm-up at every length first (JIT), then timed passes over the lengths
  // in turn (10, 100, 1,000, 10, ...): the median pass per length is kept
  for (const length of lengths) await measurePrepare(length, 50)
  const passes: Record<number, Array<{ median: number; p95: number }>> = {}
  for (let pass = 0; pass < 3; pass++) {
    for (const length of lengths) (passes[length] ??= []).push(await measurePrepare(length, Math.ceil(samples / 3)))
  }
  const prepareUs: Record<number, { median: number; p95: number }> = {}
  for (const length of lengths) prepareUs[length] = passes[length]!.sort((a, b) => a.median - b.median)[1]!

  // a 1-step agent run in a conversation of that length
  const agent = Agent.make({ name: "state" })
  const measureRun = async (length: number, runs: number) => {
    const modelLayer = TestModel.layer(
      Array.from({ length: runs }, () => TestModel.text("Done.", { usage: { inputTokens: 100, outputTokens: 2 } }))
    )
    const contexts = await Effect.runPromise(Effect.forEach(Array.from({ length: runs }), () =>
      Effect.map(Conversation.make({ messages: base.slice(0, length) }), (conversation) =>
        Context.make(Conversation.Conversation, conversation))))
    const program = Effect.gen(function*() {
      const times: Array<number> = []
      for (let i = 0; i < runs; i++) {
        // the conversation's window totals exist before the timed step
        const conversation = Context.get(contexts[i]!, Conversation.Conversation)
        const history = yield* conversation.messages
        yield* window.prepare(conversation, { fixed: [], history })
        const start = performance.now()
        yield* Effect.provideContext(Agent.run(agent, "And the next one?"), Context.merge(yield* Effect.context<never>(), contexts[i]!))
        times.push((performance.now() - start) * 1000)
      }
      return times
    })
    const times = await Effect.runPromise(
      program.pipe(Effect.provideService(ContextWindow.ContextWindow, window), Effect.provide(modelLayer))
    )
    return { median: median(times), p95: p95(times) }
  }
  for (const length of lengths) await measureRun(length, 50)
  const runPasses: Record<number, Array<{ median: number; p95: number }>> = {}
  for (let pass = 0; pass < 3; pass++) {
    for (const length of lengths) (runPasses[length] ??= []).push(await measureRun(length, Math.ceil(samples / 3)))
  }
  const runUs: Record<number, { median: number; p95: number }> = {}
  for (const length of lengths) runUs[length] = runPasses[length]!.sort((a, b) => a.median - b.median)[1]!

  const rows: Array<Array<string>> = []
  for (const length of lengths) {
    const prep = prepareUs[length]!
    const run = runUs[length]!
    const prepRatio = prep.median / prepareUs[lengths[0]]!.median
    const runRatio = run.median / runUs[lengths[0]]!.median
    const targeted = length === 1_000
    report.add({
      section,
      metric: `ContextWindow.prepare per step at ${length} turns: median`,
      side: "effect-harness",
      value: prep.median,
      unit: "µs",
      ratio: prepRatio,
      ...(targeted ? { target: "ratio to 10 turns <= 2", met: prepRatio <= 2 } : {})
    })
    report.add({ section, metric: `ContextWindow.prepare per step at ${length} turns: p95`, side: "effect-harness", value: prep.p95, unit: "µs" })
    report.add({
      section,
      metric: `1-step Agent run in a conversation of ${length} turns: median`,
      side: "effect-harness",
      value: run.median,
      unit: "µs",
      ratio: runRatio
    })
    rows.push([
      `${length} turns`,
      `${format(prep.median, 1)} µs`,
      `${format(prep.p95, 1)} µs`,
      `${format(prepRatio, 2)}x`,
      `${format(run.median, 1)} µs`,
      `${format(runRatio, 2)}x`,
      targeted ? `prep<=2x of 10 turns ${prepRatio <= 2 ? "met" : "MISSED"}` : ""
    ])
  }
  report.print(`Context preparation per step (OpenAiTokenizer, window of 16,000 tokens, ${samples} steps per length)`)
  report.table(["history", "prepare median", "p95", "vs 10", "1-step Agent run", "vs 10", "target"], rows)
  report.print()

  // tokens counted per second
  const prompt = Prompt.fromMessages(Array.from({ length: 200 }, (_, i) => turn(i + 7)))
  let tokens = 0
  let rounds = 0
  const budgetMs = 1500 * Math.max(0.2, options.scale)
  const start = performance.now()
  while (performance.now() - start < budgetMs) {
    tokens += (Effect.runSync(tokenizer.tokenize(prompt))).length
    rounds++
  }
  const perSecond = tokens / ((performance.now() - start) / 1000)
  report.add({ section, metric: "tokens counted per second (OpenAiTokenizer, o200k)", side: "effect-harness", value: perSecond, unit: "tokens/s" })
  report.print(`Tokens counted per second (OpenAiTokenizer, ${model}): ${format(perSecond)} tokens/s (${rounds} prompts of ${format(tokens / rounds)} tokens)`)
  report.print()
}

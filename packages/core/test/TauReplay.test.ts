/**
 * Replays the 152 recorded tau-bench airline episodes (real GPT-4o runs, read
 * in place from ../shared/fixtures/tau-airline) through an Agent: a scripted
 * model answers with the recorded assistant turns (tool calls with their
 * recorded ids), the 14 tools answer with the recorded results, user turns
 * come from the recording (one agent run per user turn, in one
 * Conversation). Every request the agent sends must carry exactly the
 * recorded conversation up to that point.
 *
 * After the recording ends (a final user turn, or a tool result such as a
 * transfer to a human) the agent makes one more call: it is answered with a
 * synthetic text that is not compared, while its request, which must be the
 * whole recorded episode, is.
 */
import { Agent, ContextWindow, Conversation } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { type Prompt, Tokenizer, Tool, Toolkit } from "effect/ai"
import { readFileSync } from "node:fs"
import { pathToFileURL } from "node:url"
import { tauAirline } from "../../../scripts/fixtures.ts"

const fixtures = pathToFileURL(`${tauAirline}/`)

interface RecordedCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

interface RecordedMessage {
  readonly role: "system" | "user" | "assistant" | "tool"
  readonly content: string | null
  readonly tool_calls?: ReadonlyArray<RecordedCall>
  readonly tool_call_id?: string
  readonly name?: string
}

interface Episode {
  readonly task_id: number
  readonly trial: number
  readonly messages: ReadonlyArray<RecordedMessage>
}

const episodes: ReadonlyArray<Episode> = JSON.parse(readFileSync(new URL("trajectories.json", fixtures), "utf8"))
const definitions: ReadonlyArray<{
  readonly function: { readonly name: string; readonly description: string; readonly parameters: Record<string, unknown> }
}> = JSON.parse(readFileSync(new URL("tools.json", fixtures), "utf8"))

// The recorded tools, with their JSON Schema parameters passed through as the
// model sent them (permissive: the recording is the truth here).
const tools = definitions.map((definition) =>
  Tool.dynamic(definition.function.name, {
    description: definition.function.description,
    parameters: definition.function.parameters as any,
    success: Schema.Unknown
  })
)
const Airline = Toolkit.make(...tools)

// The tool results of the episode being replayed, by tool call id, in order:
// GPT-4o reused a call id within an episode in 37 of the recordings.
interface RecordedResult {
  readonly name: string
  readonly params: unknown
  readonly content: string
}
let recorded = new Map<string, Array<RecordedResult>>()
// the calls of the episode being replayed whose arguments differ from the recording
let argumentMismatches: Array<string> = []
// what the tests that ran replayed, for the summary line only: no test reads it
const totals = { episodes: 0, steps: 0, toolCalls: 0, userTurns: 0, compared: 0 }

const AirlineHandlers = Airline.toLayer(Object.fromEntries(definitions.map(({ function: { name } }) => [
  name,
  (params: unknown, context: { readonly toolCallId?: string | undefined }) =>
    Effect.sync(() => {
      const call = recorded.get(context.toolCallId ?? "")?.shift()
      if (call === undefined || call.name !== name) throw new Error(`no recorded result for ${name} ${context.toolCallId}`)
      if (JSON.stringify(call.params) !== JSON.stringify(params)) argumentMismatches.push(context.toolCallId!)
      totals.toolCalls++
      return call.content
    })
])) as any) as Layer.Layer<never>

// Our history in the OpenAI chat format it came from, in a canonical form:
// tool-call arguments parsed (the recorder's whitespace is not ours to match).
interface Canonical {
  readonly role: string
  readonly content: string | null
  readonly tool_calls?: ReadonlyArray<{ readonly id: string; readonly name: string; readonly params: unknown }>
  readonly tool_call_id?: string
  readonly name?: string
}

const fromRecording = (message: RecordedMessage): Canonical => {
  switch (message.role) {
    case "assistant":
      return message.tool_calls === undefined
        ? { role: "assistant", content: message.content }
        : {
          role: "assistant",
          content: message.content,
          tool_calls: message.tool_calls.map((call) => ({
            id: call.id,
            name: call.function.name,
            params: JSON.parse(call.function.arguments)
          }))
        }
    case "tool":
      return { role: "tool", content: message.content, tool_call_id: message.tool_call_id!, name: message.name! }
    default:
      return { role: message.role, content: message.content }
  }
}

const textOf = (parts: ReadonlyArray<Prompt.Part>): string | null => {
  const texts = parts.flatMap((part) => part.type === "text" ? [part.text] : [])
  return texts.length === 0 ? null : texts.join("")
}

const fromPrompt = (prompt: Prompt.Prompt): Array<Canonical> =>
  prompt.content.flatMap((message): Array<Canonical> => {
    switch (message.role) {
      case "system":
        return [{ role: "system", content: message.content }]
      case "user":
        return [{ role: "user", content: textOf(message.content) }]
      case "assistant": {
        const calls = message.content.flatMap((part) =>
          part.type === "tool-call" ? [{ id: part.id, name: part.name, params: part.params }] : []
        )
        return [
          calls.length === 0
            ? { role: "assistant", content: textOf(message.content) }
            : { role: "assistant", content: textOf(message.content), tool_calls: calls }
        ]
      }
      case "tool":
        return message.content.flatMap((part) =>
          part.type === "tool-result"
            ? [{
              role: "tool",
              content: typeof part.result === "string" ? part.result : JSON.stringify(part.result),
              tool_call_id: part.id,
              name: part.name
            }]
            : []
        )
    }
  })

const endOfRecording = "(end of the recording)"


// Large enough for every episode: the window is exercised on real data and
// must send everything unchanged.
const Window = ContextWindow.layer({ maxTokens: 128_000, reserve: 4_096 }).pipe(
  Layer.provide(Layer.succeed(Tokenizer.Tokenizer, ContextWindow.approximateTokenizer))
)

const replay = (episode: Episode) =>
  Effect.gen(function*() {
    const [system, ...rest] = episode.messages
    assert.strictEqual(system!.role, "system")
    const agent = Agent.make({
      name: "tau-airline",
      instructions: system!.content!,
      toolkit: Airline,
      maxSteps: 100,
      modelLabel: "gpt-4o"
    })
    for (const message of rest) {
      if (message.role !== "user") continue
      yield* Agent.run(agent, message.content!)
      totals.userTurns++
    }
    const requests = yield* TestModel.requests
    // request k must carry the recording up to the k-th assistant turn
    const cuts: Array<number> = []
    episode.messages.forEach((message, index) => message.role === "assistant" && cuts.push(index))
    const last = episode.messages.at(-1)!
    if (last.role !== "assistant") cuts.push(episode.messages.length)
    assert.strictEqual(requests.length, cuts.length, "one model call per recorded assistant turn (+1 at the end)")
    for (let k = 0; k < requests.length; k++) {
      const expected = episode.messages.slice(0, cuts[k]).map(fromRecording)
      assert.deepStrictEqual(fromPrompt(requests[k]!.prompt), expected, `request ${k + 1}`)
      assert.strictEqual(requests[k]!.tools.length, 14)
      totals.compared++
    }
    assert.strictEqual(yield* TestModel.remaining, 0)
    // every recorded tool call ran, with its recorded arguments
    assert.deepStrictEqual(Array.from(recorded.values()).flat(), [])
    assert.deepStrictEqual(argumentMismatches, [])
    totals.episodes++
    totals.steps += requests.length
  })

const scriptOf = (episode: Episode): Array<TestModel.Reply> => {
  const script: Array<TestModel.Reply> = []
  recorded = new Map()
  argumentMismatches = []
  for (let i = 0; i < episode.messages.length; i++) {
    const message = episode.messages[i]!
    if (message.role === "tool") {
      const call = episode.messages.slice(0, i).reverse().flatMap((m) => m.tool_calls ?? [])
        .find((c) => c.id === message.tool_call_id)!
      const results = recorded.get(message.tool_call_id!) ?? []
      results.push({ name: message.name!, params: JSON.parse(call.function.arguments), content: message.content! })
      recorded.set(message.tool_call_id!, results)
    }
    if (message.role !== "assistant") continue
    script.push(
      message.tool_calls === undefined
        ? TestModel.text(message.content!)
        : TestModel.toolCalls(
          message.tool_calls.map((call) => ({
            id: call.id,
            name: call.function.name,
            params: JSON.parse(call.function.arguments)
          })),
          message.content === null ? undefined : { text: message.content }
        )
    )
  }
  if (episode.messages.at(-1)!.role !== "assistant") script.push(TestModel.text(endOfRecording))
  return script
}

describe("tau-airline replay", () => {
  afterAll(() => {
    console.log(
      `tau-airline replay: ${totals.episodes} episode runs (${episodes.length} episodes + a sample through ` +
        `LanguageModel only), ${totals.userTurns} user turns, ` +
        `${totals.steps} model steps (${totals.compared} requests compared), ${totals.toolCalls} tool calls`
    )
  })

  it("has the 152 episodes, 888 tool calls and 14 tools the fixture promises", () => {
    assert.strictEqual(episodes.length, 152)
    assert.strictEqual(episodes.reduce((n, e) => n + e.messages.filter((m) => m.role === "tool").length, 0), 888)
    assert.strictEqual(definitions.length, 14)
  })

  episodes.forEach((episode, index) => {
    it.effect(`episode ${index + 1} (task ${episode.task_id}, trial ${episode.trial})`, () =>
      Effect.suspend(() => replay(episode).pipe(
        Effect.provide(Layer.mergeAll(TestModel.layer(scriptOf(episode)), AirlineHandlers, Conversation.layer(), Window))
      )))
  })

  // The same requests when the provider only offers effect's LanguageModel
  // (no DirectModel fast path), on a sample of the episodes.
  episodes.filter((_, index) => index % 10 === 0).forEach((episode) => {
    it.effect(`episode task ${episode.task_id}, trial ${episode.trial}, through LanguageModel only`, () =>
      Effect.suspend(() => replay(episode).pipe(
        Effect.provide(Layer.mergeAll(
          TestModel.layer(scriptOf(episode), { direct: false }),
          AirlineHandlers,
          Conversation.layer(),
          Window
        ))
      )))
  })
})

/**
 * Every recorded interaction with api.openai.com in ../shared/fixtures
 * (read in place) goes through FakeOpenAiServer into the real `openai` SDK
 * and OpenAiLanguageModel:
 *
 * 1. what the layer returns (text, each tool call's id, name and arguments,
 *    finish reason, usage; or the mapped error with the provider's message)
 *    must match the recorded response, through effect's LanguageModel (plain
 *    and streamed) and through core's DirectModel too (`generate` for plain
 *    calls, `stream` for streamed ones);
 * 2. the request the SDK sent, built by the layer from the Prompt that the
 *    recorded request converts to, must match the recorded request (normal
 *    forms, see support/normalize.ts); requests whose features a Prompt cannot
 *    carry are counted with the reason, not compared;
 * 3. in multi-turn recordings, turn k's history must carry, as the assistant
 *    turn, what the layer returned for turn k-1.
 *
 * Nothing is skipped silently: the test prints what it checked and why the
 * rest could not be.
 */
import { DirectModel } from "@effect-harness/core"
import { OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Stream } from "effect"
import { LanguageModel, Prompt } from "effect/ai"
import { normalize, firstDifference } from "./support/normalize.ts"
import { clientLayer } from "./support/env.ts"
import {
  assistantOutcome,
  compare,
  fromDirectParts,
  fromReply,
  fromResponse,
  fromStreamParts,
  type Outcome
} from "./support/outcome.ts"
import { apiOf, type Expected, expectedOf, isStream, kindOf, loadAll } from "./support/recorded.ts"
import { convert } from "./support/to-prompt.ts"

const files = loadAll()
const total = files.reduce((n, file) => n + file.interactions.length, 0)

class Counter {
  readonly counts = new Map<string, number>()
  add(key: string, n = 1) {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n)
  }
  get(key: string) {
    return this.counts.get(key) ?? 0
  }
  lines(indent = "  ") {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${indent}${String(n).padStart(3)}  ${key}`)
  }
}

const messageKey = (message: Prompt.Message) =>
  JSON.stringify({
    role: message.role,
    content: typeof message.content === "string"
      ? message.content
      : message.content.map((part: any) => [part.type, part.text, part.id, part.name, part.params, part.result])
  })

describe("OpenAiLanguageModel against recorded OpenAI traffic", () => {
  it.effect(`replays all ${total} recorded interactions`, () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      const failures: Array<string> = []
      const checked = new Counter()
      const requestsCompared = new Counter()
      const notComparable = new Counter()
      const unsurfaced = new Counter()
      let directChecked = 0
      let directStreamChecked = 0
      let continuityChecked = 0
      const continuityNotApplicable = new Counter()

      for (const file of files) {
        let previous: {
          readonly api: string
          readonly prompt: Prompt.Prompt
          readonly outcome: Outcome
          readonly expected: Expected
        } | undefined
        for (const [index, interaction] of file.interactions.entries()) {
          const where = `${file.name}#${index}`
          const api = apiOf(interaction)
          const kind = kindOf(interaction)
          const expected = expectedOf(interaction)
          const converted = convert(api, interaction.request.body)
          const layer = OpenAiLanguageModel.layer({
            model: converted.model,
            systemMessageRole: converted.systemMessageRole,
            ...(api === "chat"
              ? { api: "chat", config: converted.config }
              : { api: "responses", config: converted.config })
          } as OpenAiLanguageModel.Options)
          const toolkit = converted.tools.length === 0 ? undefined : {
            tools: Object.fromEntries(converted.tools.map((tool) => [tool.name, tool])),
            handle: () => Effect.die("tool handlers are never called here")
          }
          const options: any = {
            prompt: converted.prompt,
            disableToolCallResolution: true,
            toolCallValidation: "deferred",
            ...(toolkit === undefined ? {} : { toolkit }),
            ...(converted.toolChoice === undefined ? {} : { toolChoice: converted.toolChoice })
          }

          // 1. through effect's LanguageModel
          yield* server.reset
          yield* server.enqueue(FakeOpenAiServer.fromInteraction(interaction))
          const run: Effect.Effect<Outcome, unknown, LanguageModel.LanguageModel> = isStream(interaction)
            ? Effect.map(Stream.runCollect(LanguageModel.streamText(options)), fromStreamParts)
            : Effect.map(LanguageModel.generateText(options), fromResponse)
          const exit = yield* run.pipe(Effect.provide(layer), Effect.exit)
          for (const problem of compare(expected, exit)) failures.push(`${where} (${kind}): ${problem}`)
          checked.add(kind)
          if (expected._tag === "Ok") for (const item of expected.builtinItems) unsurfaced.add(`${item} (${api})`)

          const [sent] = yield* server.requests
          if (sent === undefined) failures.push(`${where}: no request reached the server`)

          // 1b. the same plain call through core's DirectModel
          const choice = converted.toolChoice
          let directSent: Record<string, any> | undefined
          if (!isStream(interaction)) {
            yield* server.reset
            yield* server.enqueue(FakeOpenAiServer.fromInteraction(interaction))
            const direct = yield* Effect.flatMap(DirectModel.current, (model) =>
              model.generate({
                prompt: converted.prompt,
                tools: converted.tools,
                toolChoice: choice ?? (converted.tools.length > 0 ? "auto" : "none"),
                responseFormat: { type: "text" }
              })).pipe(Effect.map(fromReply), Effect.provide(layer), Effect.exit)
            for (const problem of compare(expected, direct)) failures.push(`${where} (${kind}, DirectModel): ${problem}`)
            directSent = (yield* server.requests)[0]?.body as Record<string, any> | undefined
            directChecked++
          }

          // 1c. the same streamed call through core's DirectModel stream
          if (isStream(interaction)) {
            yield* server.reset
            yield* server.enqueue(FakeOpenAiServer.fromInteraction(interaction))
            const streamed = yield* Stream.runCollect(DirectModel.stream({
              prompt: converted.prompt,
              tools: converted.tools,
              toolChoice: choice ?? (converted.tools.length > 0 ? "auto" : "none"),
              responseFormat: { type: "text" }
            })).pipe(Effect.map(fromDirectParts), Effect.provide(layer), Effect.exit)
            for (const problem of compare(expected, streamed)) failures.push(`${where} (${kind}, DirectModel stream): ${problem}`)
            directStreamChecked++
          }

          // 2. the request the SDK sent. effect's LanguageModel narrows the
          // tools to a `oneOf` tool choice before the provider sees them; the
          // Responses API keeps them all (`allowed_tools`), as a direct request does.
          const narrowed = typeof choice === "object" && "oneOf" in choice && choice.oneOf.length < converted.tools.length
          const compared = narrowed && api === "responses" ? directSent : sent?.body as Record<string, any> | undefined
          if (converted.unsupported.length > 0 || compared === undefined) {
            const reasons = compared === undefined
              ? ["streamed allowed_tools narrower than the tools (effect's LanguageModel sends only the allowed ones)"]
              : converted.unsupported
            for (const reason of new Set(reasons)) notComparable.add(reason)
            notComparable.add("(interactions)")
          } else {
            const difference = firstDifference(normalize(api, interaction.request.body), normalize(api, compared))
            if (difference !== undefined) failures.push(`${where}: request differs at ${difference}`)
            requestsCompared.add(api)
          }

          // 3. continuity: this turn's history carries the previous turn's
          // answer, as effect's Prompt.fromResponseParts turns the layer's
          // parts into history
          const messages = converted.prompt.content
          if (previous !== undefined && previous.api === api) {
            const before = previous.prompt.content
            const isPrefix = messages.length > before.length &&
              before.every((message, i) => messageKey(message) === messageKey(messages[i]!))
            const next = messages[before.length]
            if (isPrefix && next?.role === "assistant") {
              const carried = assistantOutcome(next)
              const answer = previous.expected
              if (
                answer._tag !== "Ok" || carried.text !== answer.text ||
                JSON.stringify(carried.toolCalls) !== JSON.stringify(answer.toolCalls) ||
                JSON.stringify(carried.reasoning) !== JSON.stringify(answer.reasoning)
              ) {
                continuityNotApplicable.add("the recorded history differs from the recorded answer")
              } else {
                const replayed = Prompt.fromResponseParts(previous.outcome.parts).content[0]
                if (
                  replayed?.role !== "assistant" ||
                  JSON.stringify(assistantOutcome(replayed)) !== JSON.stringify(carried)
                ) {
                  failures.push(`${where}: the layer's answer to turn ${index - 1}, as history, is not what turn ${index} carries`)
                }
                continuityChecked++
              }
            } else {
              continuityNotApplicable.add(
                interaction.request.body.previous_response_id !== undefined
                  ? "previous_response_id (OpenAI keeps the history)"
                  : "the history is not a prefix of the next turn's"
              )
            }
          }
          previous = Exit.isSuccess(exit) ? { api, prompt: converted.prompt, outcome: exit.value, expected } : undefined
        }
      }

      const checkedTotal = [...checked.counts.values()].reduce((a, b) => a + b, 0)
      console.log([
        `Replayed ${checkedTotal} of ${total} recorded interactions (${files.length} files); every response checked:`,
        ...[...checked.counts.entries()].sort().map(([kind, n]) => `  ${kind}: ${n}`),
        `Plain interactions checked again through DirectModel: ${directChecked}`,
        `Streamed interactions checked again through DirectModel's stream: ${directStreamChecked}`,
        `Request bodies compared with the recorded ones: ${requestsCompared.get("chat")} chat, ${
          requestsCompared.get("responses")
        } responses`,
        `Request bodies not comparable (a Prompt cannot carry a recorded feature): ${notComparable.get("(interactions)")}`,
        ...notComparable.lines("    ").filter((line) => !line.includes("(interactions)")),
        `Multi-turn continuity (turn k's history carries the layer's answer to turn k-1): ${continuityChecked} checked, ${
          [...continuityNotApplicable.counts.values()].reduce((a, b) => a + b, 0)
        } not applicable:`,
        ...continuityNotApplicable.lines("    "),
        `Response items not surfaced as parts (built-in tools run by OpenAI), counted: ${
          [...unsurfaced.counts.values()].reduce((a, b) => a + b, 0)
        }`,
        ...unsurfaced.lines("    "),
        `Failures: ${failures.length}`
      ].join("\n"))

      assert.strictEqual(checkedTotal, total)
      assert.strictEqual(directChecked + directStreamChecked, total)
      assert.deepStrictEqual(failures, [])
    }).pipe(Effect.provide(clientLayer().pipe(Layer.provideMerge(FakeOpenAiServer.layer())))))
})

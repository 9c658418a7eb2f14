/**
 * `npm run chat -w packages/examples`: an interactive support assistant in the terminal, with the
 * knowledge-base tools, whose session persists.
 *
 * The history is a `Conversation` in a `ConversationStore` (files under
 * `--state`), saved after every answer; `--session NAME` resumes it. A `ContextWindow` keeps requests within a deliberately small
 * window (`--window`, 1,200 tokens): when the history no longer fits, its
 * oldest turns are compacted into a summary written by the model, and a line
 * says so. It reads lines from the terminal, or from a pipe:
 *
 *   printf 'My name is Ada\nHow do I get a refund?\n' | npm run chat -w packages/examples -- --session demo
 */
import { Agent, AgentEvent, Budget, ContextWindow, Conversation, RetryPolicy } from "@effect-harness/core"
import { OpenAiModels, OpenAiTokenizer } from "@effect-harness/openai"
import { NodeFileSystem, NodePath, NodeTerminal } from "@effect/platform-node"
import { Effect, Layer, Option, Path, Terminal } from "effect"
import type { Prompt } from "effect/ai"
import { fileURLToPath } from "node:url"
import * as Cli from "../shared/cli.ts"
import { defaultDataDir, loadArticles } from "../shared/data.ts"
import * as Explain from "../shared/explain.ts"
import * as Format from "../shared/format.ts"
import { KbTools, KbToolsLive, KnowledgeBase } from "../shared/kbTools.ts"
import * as Model from "../shared/model.ts"
import * as Script from "./script.ts"
import * as Session from "./session.ts"

const usage = "npm run chat -w packages/examples -- [--session NAME] [--window TOKENS] [--state DIR] [--data DIR]"

const examplesDir = fileURLToPath(new URL("../..", import.meta.url))

const say = (line = "") => Effect.sync(() => void process.stdout.write(`${line}\n`))

const assistant = (model: string) =>
  Agent.make({
    name: "assistant",
    instructions: "You are Acme's support assistant. Answer questions from the knowledge base: find articles with " +
      "search_kb, read the best one with get_article, answer in two or three sentences and name the article. " +
      "Remember what the user tells you about themselves.",
    toolkit: KbTools,
    maxSteps: 6,
    modelLabel: model
  })

/** What the user sees of a turn besides the answer: tool calls, retries, compactions. */
const narrate = (window: number) => (event: AgentEvent.AgentEvent) => {
  switch (event._tag) {
    case "ToolCalled":
      return say(`  · ${event.name}(${Format.cut(Object.values(event.params as object).map(String).join(", "), 60)})`)
    case "ContextTrimmed":
      return say(
        event.strategy === "compact"
          ? `  [context] compacted ${Format.plural(event.messages, "earlier message")} into a summary: ` +
            `${Format.count(event.tokensBefore)} -> ${Format.count(event.tokensAfter)} tokens (window ${Format.count(window)})`
          : `  [context] left ${Format.plural(event.messages, "old message")} out of this request: ` +
            `${Format.count(event.tokensBefore)} -> ${Format.count(event.tokensAfter)} tokens`
      )
    default:
      return Effect.void
  }
}

const onRetry = (retry: RetryPolicy.RetryScheduled) =>
  say(`  · ${retry.error._tag === "RateLimited" ? "rate limited" : retry.error._tag}, retrying in ${Format.duration(retry.delay)}`)

const history = (messages: ReadonlyArray<Prompt.Message>) =>
  Effect.forEach(messages, (message) => {
    const text = typeof message.content === "string"
      ? message.content
      : message.content.map((part) =>
        part.type === "text" ? part.text : part.type === "tool-call" ? `[${part.name}]` : part.type === "tool-result" ? "[result]" : ""
      ).join(" ")
    const mark = ContextWindow.isSummary(message) ? " (summary)" : ""
    return say(`  ${message.role}${mark}: ${Format.cut(text.replace(/\s+/g, " "), 100)}`)
  }, { discard: true })

const program = Effect.gen(function*() {
  const args = yield* Cli.flags({
    session: { type: "string" },
    window: { type: "string" },
    state: { type: "string" },
    data: { type: "string" },
    help: { type: "boolean", short: "h" }
  }, usage)
  if (args.help === true) return yield* say(`${usage}\n\nA support chat over the knowledge base; /history, /exit.`)
  const path = yield* Path.Path
  const stateDir = path.resolve(args.state ?? path.join(examplesDir, ".state"))
  const window = yield* Cli.positiveInt("window", args.window, 1_200)
  const name = args.session ?? `chat-${new Date().toISOString().replace(/\D/g, "").slice(0, 14)}`
  const articles = yield* loadArticles(path.resolve(args.data ?? defaultDataDir))
  const sessionsDir = path.join(stateDir, "chat")
  const store = yield* Layer.build(Session.store(sessionsDir))
  const session = yield* Session.open(sessionsDir, name).pipe(Effect.provide(store))
  const env = yield* Model.readEnv

  const main = Effect.gen(function*() {
    const info = yield* Model.ModelInfo
    for (const line of info.banner) yield* say(line)
    const count = (yield* session.conversation.messages).length
    yield* say(
      session.resumed
        ? `Resuming session ${name}: ${Format.plural(count, "message")} from ${session.directory}.`
        : `New session ${name}, saved after every answer in ${session.directory}; resume it with --session ${name}.`
    )
    yield* say(`Context window: ${Format.count(window)} tokens (small on purpose: watch it compact). Commands: /history, /exit.`)
    yield* say()

    const terminal = yield* Terminal.Terminal
    const interactive = process.stdin.isTTY === true
    const agent = assistant(info.model)
    const readLine = (interactive ? Effect.andThen(terminal.display("you> "), terminal.readLine) : terminal.readLine)
      .pipe(Effect.map(Option.some), Effect.catchTag("QuitError", () => Effect.succeedNone), Effect.orDie)

    while (true) {
      const input = yield* readLine
      if (Option.isNone(input)) break
      const line = input.value.trim()
      if (!interactive && line.length > 0) yield* say(`you> ${line}`)
      if (line.length === 0) continue
      if (line === "/exit" || line === "/quit") break
      if (line === "/history") {
        yield* history(yield* session.conversation.messages)
        continue
      }
      const turn = yield* agent.runDetailed(line).pipe(
        Budget.provide({ pricing: OpenAiModels.pricing, model: info.model }),
        Effect.provideService(AgentEvent.Sink, narrate(window)),
        Effect.provideService(RetryPolicy.OnRetry, onRetry),
        Effect.mapError((error) =>
          new Cli.ExampleError({
            message: (error._tag === "JournalError" || error._tag === "JournalMismatch"
              ? Explain.journalError(error, "")
              : error._tag === "InvalidOutput" || error._tag === "OutputTruncated" || error._tag === "Paused" ||
                  error._tag === "ToolUnavailable"
              ? error.message
              : Explain.harnessError(error, info)) +
              ` (session ${name} is saved up to the previous answer)`
          })
        )
      )
      // saved before it is shown: an answer on screen is an answer on disk
      yield* Session.save(session).pipe(Effect.provide(store))
      yield* say(`assistant> ${turn.output}`)
      yield* say(
        `  (${Format.plural(turn.usage.steps, "step")}, ${Format.count(turn.usage.totalTokens)} tokens, ${Format.cost(turn.usage.cost)})`
      )
    }
    const saved = (yield* session.conversation.messages).length
    yield* say(`Session ${name} saved (${Format.plural(saved, "message")}). Resume it with: npm run chat -w packages/examples -- --session ${name}`)
  })

  const model = Model.layer({ script: Script.make(), command: "npm run chat -w packages/examples" })
  const windowLayer = ContextWindow.layer({
    maxTokens: window,
    reserve: Math.min(300, Math.floor(window / 5)),
    strategy: ContextWindow.compact(ContextWindow.summarizer())
  })
  yield* main.pipe(
    Effect.provideService(Conversation.Conversation, session.conversation),
    Effect.provide(Layer.mergeAll(
      KbToolsLive.pipe(Layer.provide(KnowledgeBase.layer(articles))),
      windowLayer.pipe(Layer.provideMerge(Layer.merge(model, OpenAiTokenizer.layer(env.model)))),
      NodeTerminal.layer
    ))
  )
}).pipe(Effect.scoped, Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))

Cli.runMain(program, (error) => error.message)

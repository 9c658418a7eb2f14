// Every package (sql through offline.ts): the real openai SDK over HTTP to a local fake server, run by NodeRuntime.
import "./offline.ts"
import { Harness } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { triage } from "./triage.ts"

const program = Effect.gen(function*() {
  const server = yield* FakeOpenAiServer.FakeOpenAiServer
  yield* server.enqueue(FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ category: "billing", urgent: true }) }))
  const model = OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey: "sk-test", baseURL: server.url }))
  )
  const ticket = yield* Harness.run(triage, "I was charged twice!").pipe(Effect.provide(model))
  yield* Console.log(`openai ${JSON.stringify(ticket)}`)
}).pipe(Effect.provide(FakeOpenAiServer.layer()))

NodeRuntime.runMain(program)

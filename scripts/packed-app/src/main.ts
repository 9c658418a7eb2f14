// Every package (sql through offline.ts, workflow on its in-memory engine): the real openai SDK over HTTP to a local fake server, run by NodeRuntime.
import "./offline.ts"
import { Agent, Harness } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer, TestModel } from "@effect-harness/testing"
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
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

  // an agent run as a workflow execution on the in-memory engine
  const Triage = AgentWorkflow.make(Agent.make({ name: "triage" }))
  const answer = yield* AgentWorkflow.run(Triage, "ticket-1", "I was charged twice!").pipe(
    Effect.provide(Triage.layer.pipe(
      Layer.provideMerge(WorkflowEngines.layerMemory),
      Layer.provideMerge(TestModel.layer([TestModel.text(JSON.stringify({ category: "billing", urgent: true }))]))
    ))
  )
  yield* Console.log(`workflow ${answer}`)
}).pipe(Effect.provide(FakeOpenAiServer.layer()))

NodeRuntime.runMain(program)

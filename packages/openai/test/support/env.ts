/**
 * Test wiring: a FakeOpenAiServer, the real SDK client pointed at it, and the
 * model layer on top.
 */
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { Effect, Layer } from "effect"
import type { LanguageModel } from "effect/ai"

/** The client, pointed at the fake server of the context. */
export const clientLayer = (
  options: Omit<OpenAiClient.Options, "baseURL" | "apiKey"> = {}
): Layer.Layer<OpenAiClient.OpenAiClient, OpenAiClient.OpenAiClientError, FakeOpenAiServer.FakeOpenAiServer> =>
  Layer.unwrap(Effect.map(Effect.service(FakeOpenAiServer.FakeOpenAiServer), (server) =>
    OpenAiClient.layer({ ...options, apiKey: "sk-test-secret", baseURL: server.url })))

/** Server + client + model, all provided (the server too, for assertions). */
export const modelLayer = (
  options: OpenAiLanguageModel.Options,
  client: Omit<OpenAiClient.Options, "baseURL" | "apiKey"> = {}
): Layer.Layer<
  LanguageModel.LanguageModel | OpenAiClient.OpenAiClient | FakeOpenAiServer.FakeOpenAiServer,
  OpenAiClient.OpenAiClientError
> =>
  OpenAiLanguageModel.layer(options).pipe(
    Layer.provideMerge(clientLayer(client)),
    Layer.provideMerge(FakeOpenAiServer.layer())
  )

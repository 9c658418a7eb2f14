/**
 * @effect-harness/testing: scripted models, a fake OpenAI server, record and
 * replay, and fault injection for testing harnesses.
 *
 * @since 0.1.0
 */

/**
 * A scripted `LanguageModel` that records the requests it receives.
 *
 * @since 0.1.0
 */
export * as TestModel from "./TestModel.ts"

/**
 * Seeded, reproducible fault injection around any `LanguageModel`.
 *
 * @since 0.1.0
 */
export * as FaultInjection from "./FaultInjection.ts"

/**
 * Record and replay HTTP traffic with a model endpoint, in the fixture format.
 *
 * @since 0.1.0
 */
export * as Cassette from "./Cassette.ts"

/**
 * Run effects that wait in virtual time, under TestClock.
 *
 * @since 0.1.0
 */
export * as VirtualTime from "./VirtualTime.ts"

/**
 * A real HTTP server on 127.0.0.1 speaking OpenAI's protocol: scripted or replaying recorded fixtures.
 *
 * @since 0.1.0
 */
export * as FakeOpenAiServer from "./FakeOpenAiServer.ts"

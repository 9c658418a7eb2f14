/**
 * The chat, run with scripted input from a pipe: tools, a retry, the context
 * window compacting (and saying so), the session saved in the file
 * ConversationStore and resumed by `--session` with its history, in another
 * process.
 */
import { ContextWindow, ConversationStore } from "@effect-harness/core"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { oneLineError, run, start, tempDir } from "./support/spawn.ts"

const questions = [
  "Hello",
  "My name is Ada",
  "I was charged twice for my invoice, can I get a refund?",
  "How do I invite a teammate?",
  "Why does the API return 429?",
  "My CSV export shows weird characters in Excel",
  "The dashboard is slow",
  "What is my name?"
]

/** A saved session, read through the store as any program would. */
const load = (directory: string, session: string) =>
  Effect.runPromise(
    ConversationStore.load(session).pipe(
      Effect.flatMap((conversation) => conversation.messages),
      Effect.provide(ConversationStore.layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer)))
    )
  )

describe("chat", () => {
  it("answers with tools, compacts when the window is full, and resumes a session with its history", async () => {
    const dir = tempDir("chat")
    const args = ["--session", "ada", "--state", join(dir, "state"), "--window", "1000"]
    const first = await run("chat", args, { input: `${questions.join("\n")}\n`, env: { SCRIPTED_LATENCY_MS: "20" } })
    assert.strictEqual(first.code, 0, first.stderr)
    assert.strictEqual(first.stderr, "")
    const stdout = first.stdout
    assert.match(stdout, /^Model: scripted, offline/m)
    const sessions = join(dir, "state", "chat")
    assert.include(stdout, `New session ada, saved after every answer in ${sessions}`)
    // the scripted input is echoed, the answers follow
    assert.include(stdout, "you> My name is Ada\nassistant> Nice to meet you, Ada!")
    // tools, and a retry of the first search
    assert.match(stdout, /^ {2}· rate limited, retrying in \d+ms$/m)
    assert.match(stdout, /^ {2}· search_kb\(charg twice invoice/m)
    assert.match(stdout, /^ {2}· get_article\(billing-refunds\)$/m)
    assert.match(stdout, /^assistant> Duplicate charges are refunded in full within 5 business days\..*\(from "Refunds and duplicate charges"\)$/m)
    // the window compacted, and said so
    assert.match(stdout, /^ {2}\[context\] compacted \d+ earlier messages into a summary: [\d,]+ -> [\d,]+ tokens \(window 1,000\)$/m)
    // the name survived the compaction, through the summary
    assert.match(stdout, /you> What is my name\?\nassistant> Your name is Ada\.$/m)
    assert.include(stdout, "Session ada saved")

    const saved = await load(sessions, "ada")
    assert.isTrue(saved.some(ContextWindow.isSummary))
    assert.include(JSON.stringify(saved.filter(ContextWindow.isSummary)), "The user's name is Ada.")

    // the session resumes with its history
    const second = await run("chat", args, { input: "What is my name?\n/history\n/exit\n", env: { SCRIPTED_LATENCY_MS: "20" } })
    assert.strictEqual(second.code, 0, second.stderr)
    assert.include(second.stdout, `Resuming session ada: ${saved.length} messages from ${sessions}.`)
    assert.match(second.stdout, /you> What is my name\?\nassistant> Your name is Ada\.$/m)
    assert.match(second.stdout, /^ {2}system \(summary\): Summary of the earlier conversation:/m)
    const after = await load(sessions, "ada")
    assert.strictEqual(after.length, saved.length + 2)
  })

  it("a bad session name or a damaged session file: one line, exit 1", async () => {
    const dir = tempDir("chat-bad")
    const name = await run("chat", ["--session", "../etc", "--state", dir], { input: "" })
    assert.strictEqual(name.code, 1)
    assert.include(oneLineError(name.stderr), `"../etc" is not a session name`)

    mkdirSync(join(dir, "chat", "broken"), { recursive: true })
    writeFileSync(join(dir, "chat", "broken", "000000000001.json"), "{ not json")
    const broken = await run("chat", ["--session", "broken", "--state", dir], { input: "hi\n" })
    assert.strictEqual(broken.code, 1)
    assert.include(oneLineError(broken.stderr), `Session broken in ${join(dir, "chat")} is not a saved session (Not JSON`)
  })

  it("a session saved in an older export version opens, migrated", async () => {
    const dir = tempDir("chat-v1")
    mkdirSync(join(dir, "chat", "old"), { recursive: true })
    const v1 = { version: 1, messages: [{ role: "user", content: "My name is Cy" }, { role: "assistant", content: "Hello Cy!" }] }
    writeFileSync(join(dir, "chat", "old", "000000000001.json"), JSON.stringify(v1))
    const result = await run("chat", ["--session", "old", "--state", dir], { input: "What is my name?\n" })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.include(result.stdout, "Resuming session old: 2 messages")
    assert.match(result.stdout, /you> What is my name\?\nassistant> Your name is Cy\.$/m)
    assert.strictEqual((await load(join(dir, "chat"), "old")).length, 4)
  })

  it("two chats on one session: the second to answer gets a conflict, and the first one's turn is kept", async () => {
    const dir = tempDir("chat-two")
    const args = ["--session", "shared", "--state", dir]
    const first = start("chat", args, { keepStdinOpen: true })
    const second = start("chat", args, { keepStdinOpen: true })
    try {
      await first.waitFor((out) => out.includes("Commands: /history, /exit."))
      await second.waitFor((out) => out.includes("Commands: /history, /exit."))
      first.child.stdin!.write("My name is Ada\n")
      await first.waitFor((out) => out.includes("assistant> Nice to meet you, Ada!"))
      second.child.stdin!.write("My name is Bo\n")
      const { code } = await second.exit
      assert.strictEqual(code, 1)
      assert.include(
        oneLineError(second.stderr()),
        "Session shared was saved by another chat since this one opened it: this answer is not saved (the other chat's is)"
      )
      first.child.stdin!.end("/exit\n")
      assert.strictEqual((await first.exit).code, 0)
      const saved = await load(join(dir, "chat"), "shared")
      assert.include(JSON.stringify(saved), "My name is Ada")
      assert.notInclude(JSON.stringify(saved), "My name is Bo")
    } finally {
      first.child.kill()
      second.child.kill()
    }
  })

  it("an unreachable server ends the chat with one line; the session keeps every answered turn", async () => {
    const dir = tempDir("chat-down")
    const args = ["--session", "s", "--state", dir]
    const ok = await run("chat", args, { input: "My name is Bo\n" })
    assert.strictEqual(ok.code, 0, ok.stderr)
    const down = await run("chat", args, { input: "Hello\n", env: { OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } })
    assert.strictEqual(down.code, 1)
    assert.match(oneLineError(down.stderr), /Cannot reach the model server at http:\/\/127\.0\.0\.1:9\/v1 .*\(session s is saved up to the previous answer\)$/)
    assert.strictEqual((await load(join(dir, "chat"), "s")).length, 2)
  })
})

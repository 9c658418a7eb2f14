/**
 * The chat, run with scripted input from a pipe: tools, a retry, the context
 * window compacting (and saying so), the session saved as a Conversation
 * export and resumed by `--session` with its history.
 */
import { Conversation, ContextWindow } from "@effect-harness/core"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync, writeFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { oneLineError, run, tempDir } from "./support/spawn.ts"

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

const load = (file: string) =>
  Effect.runPromise(Effect.flatMap(Conversation.importJson(readFileSync(file, "utf8")), (c) => c.messages))

describe("chat", () => {
  it("answers with tools, compacts when the window is full, and resumes a session with its history", async () => {
    const dir = tempDir("chat")
    const args = ["--session", "ada", "--state", join(dir, "state"), "--window", "1000"]
    const first = await run("chat", args, { input: `${questions.join("\n")}\n`, env: { SCRIPTED_LATENCY_MS: "20" } })
    assert.strictEqual(first.code, 0, first.stderr)
    assert.strictEqual(first.stderr, "")
    const stdout = first.stdout
    assert.match(stdout, /^Model: scripted, offline/m)
    assert.include(stdout, `New session ada, saved after every answer in ${join(dir, "state", "chat", "ada.json")}`)
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

    const file = join(dir, "state", "chat", "ada.json")
    const saved = await load(file)
    assert.isTrue(saved.some(ContextWindow.isSummary))
    assert.include(JSON.stringify(saved.filter(ContextWindow.isSummary)), "The user's name is Ada.")

    // the session resumes with its history
    const second = await run("chat", args, { input: "What is my name?\n/history\n/exit\n", env: { SCRIPTED_LATENCY_MS: "20" } })
    assert.strictEqual(second.code, 0, second.stderr)
    assert.include(second.stdout, `Resuming session ada: ${saved.length} messages from ${file}.`)
    assert.match(second.stdout, /you> What is my name\?\nassistant> Your name is Ada\.$/m)
    assert.match(second.stdout, /^ {2}system \(summary\): Summary of the earlier conversation:/m)
    const after = await load(file)
    assert.strictEqual(after.length, saved.length + 2)
  })

  it("a bad session name or a damaged session file: one line, exit 1", async () => {
    const dir = tempDir("chat-bad")
    const name = await run("chat", ["--session", "../etc", "--state", dir], { input: "" })
    assert.strictEqual(name.code, 1)
    assert.include(oneLineError(name.stderr), `"../etc" is not a session name`)

    mkdirSync(join(dir, "chat"), { recursive: true })
    writeFileSync(join(dir, "chat", "broken.json"), "{ not json")
    const broken = await run("chat", ["--session", "broken", "--state", dir], { input: "hi\n" })
    assert.strictEqual(broken.code, 1)
    assert.include(oneLineError(broken.stderr), `${join(dir, "chat", "broken.json")} is not a saved session (Not JSON`)
  })

  it("an unreachable server ends the chat with one line; the session keeps every answered turn", async () => {
    const dir = tempDir("chat-down")
    const args = ["--session", "s", "--state", dir]
    const ok = await run("chat", args, { input: "My name is Bo\n" })
    assert.strictEqual(ok.code, 0, ok.stderr)
    const down = await run("chat", args, { input: "Hello\n", env: { OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } })
    assert.strictEqual(down.code, 1)
    assert.match(oneLineError(down.stderr), /Cannot reach the model server at http:\/\/127\.0\.0\.1:9\/v1 .*\(session s is saved up to the previous answer\)$/)
    assert.strictEqual((await load(join(dir, "chat", "s.json"))).length, 2)
  })
})

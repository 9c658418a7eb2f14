/**
 * What a user reads in hovers and compiler errors: the type names, as the
 * TypeScript checker prints them, for a program that imports the packages as
 * an application does (through node_modules, outside the package). The
 * README promises these spellings.
 */
import { HarnessError } from "@effect-harness/core"
import * as HarnessErrorModule from "@effect-harness/core/HarnessError"
import { assert, describe, it } from "@effect/vitest"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = fileURLToPath(new URL("../../..", import.meta.url))

// An application module that is never written to disk: its own directory, so
// that "@effect-harness/core" resolves through node_modules as for a user.
const appFile = join(root, "type-display-app", "src", "triage.ts")
const app = `
import { Harness } from "@effect-harness/core"
import { Effect, Schema } from "effect"

const Ticket = Schema.Struct({ category: Schema.Literals(["billing", "bug", "other"]), urgent: Schema.Boolean })

export const triage = Harness.prompt({
  name: "triage",
  output: Ticket,
  render: (text: string) => \`Classify this support ticket: \${text}\`
}).pipe(Harness.retry())

export const bounded = Harness.prompt({ name: "bounded", output: Ticket, render: (text: string) => text })
  .pipe(Harness.retry({ maxModelCalls: 6 }))

export type TriageError = Harness.Error<typeof triage>
export type TriageOutput = Harness.Output<typeof triage>
export type BoundedError = Harness.Error<typeof bounded>

export const handled = Harness.run(triage, "hi").pipe(Effect.catchTag("RateLimited", () => Effect.succeed(null)))
`

const program = (() => {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"))
    }
  })!
  const host = ts.createCompilerHost(config.options)
  const getSourceFile = host.getSourceFile
  host.getSourceFile = (fileName, language, ...rest) =>
    fileName === appFile ? ts.createSourceFile(fileName, app, language) : getSourceFile(fileName, language, ...rest)
  const fileExists = host.fileExists
  host.fileExists = (fileName) => fileName === appFile || fileExists(fileName)
  return ts.createProgram([appFile], config.options, host)
})()

const checker = program.getTypeChecker()
const source = program.getSourceFile(appFile)!

const shown = (name: string): string => {
  let found: ts.Node | undefined
  source.forEachChild((node) => {
    if (ts.isTypeAliasDeclaration(node) && node.name.text === name) found = node.name
    if (ts.isVariableStatement(node)) {
      for (const declaration of node.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name) && declaration.name.text === name) found = declaration.name
      }
    }
  })
  assert.isDefined(found, name)
  return checker.typeToString(checker.getTypeAtLocation(found!), undefined, ts.TypeFormatFlags.NoTruncation)
}

const errors = (diagnostics: ReadonlyArray<ts.Diagnostic>) =>
  diagnostics.map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"))

const retried = "AuthenticationFailed | InvalidRequest | QuotaExhausted | ContentRefused | RetriesExhausted"

describe("type names in hovers and errors", () => {
  it("a retried prompt shows the union the README prints, not RetriedError<PromptError>", () => {
    assert.strictEqual(
      shown("triage"),
      `Harness<string, { readonly category: "billing" | "bug" | "other"; readonly urgent: boolean; }, ${retried}, LanguageModel>`
    )
    assert.strictEqual(shown("TriageError"), retried)
    assert.strictEqual(shown("BoundedError"), "AuthenticationFailed | InvalidRequest | QuotaExhausted | ContentRefused | BudgetExceeded | RetriesExhausted")
    assert.strictEqual(shown("TriageOutput"), `{ readonly category: "billing" | "bug" | "other"; readonly urgent: boolean; }`)
  })

  it("handling an error that can no longer happen names the ones that can", () => {
    const [message, ...others] = errors(program.getSemanticDiagnostics(source))
    assert.deepStrictEqual(others, [])
    assert.match(message!, /^Argument of type '"RateLimited"' is not assignable to parameter of type '/)
    // the tags left, in the checker's order of the day
    for (const tag of retried.split(" | ")) assert.include(message, `"${tag}"`)
    assert.notInclude(message, `"InvalidOutput"`)
    assert.notInclude(message, "RetriedError")
  })

  it("an application that exports a retried harness can emit its declarations (the error classes have a portable path)", () => {
    assert.deepStrictEqual(errors(program.getDeclarationDiagnostics(source)), [])
    // the subpath is the same module as the namespace
    assert.strictEqual(HarnessErrorModule.RateLimited, HarnessError.RateLimited)
  })
})

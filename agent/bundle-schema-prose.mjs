// The prose of the HTTP API's schemas (`summary` and `description`), left out of the code of
// dist/lifeboat.mjs: only the OpenAPI document shows it, and agent/build.mjs puts that document in
// the bundle prebuilt and compressed (agent/prebuild.ts generates it from the sources, prose
// included). At run time fastify, TypeBox's checks and fast-json-stringify read no prose.
//
// Removed: a `summary` or `description` property whose value is a literal string (or template),
// in an object given to a TypeBox builder (`Type.X(…)`, at any depth of its arguments) or in a
// route's `schema: {…}`. Anything else (a handler's return value, a data property named summary
// whose value is a schema) is left as written. test/bundle/schema-prose.test.ts checks that the
// schemas differ by exactly that prose.
import { readFileSync } from "node:fs";
import ts from "typescript";

const PROSE = new Set(["summary", "description"]);
const isText = (n) =>
  ts.isStringLiteral(n) ||
  ts.isNoSubstitutionTemplateLiteral(n) ||
  ts.isTemplateExpression(n) ||
  (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken && isText(n.left));
const isTypeBuilder = (n) =>
  ts.isCallExpression(n) &&
  ts.isPropertyAccessExpression(n.expression) &&
  ts.isIdentifier(n.expression.expression) &&
  n.expression.expression.text === "Type";
const isSchemaOption = (n) =>
  ts.isPropertyAssignment(n) && ts.isIdentifier(n.name) && n.name.text === "schema";

/** The source without the schema prose; the text ranges removed are the whole properties. */
export function withoutSchemaProse(text, fileName = "schema.ts") {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const cuts = [];
  const visit = (n, inSchema) => {
    if (
      inSchema &&
      ts.isPropertyAssignment(n) &&
      (ts.isIdentifier(n.name) || ts.isStringLiteral(n.name)) &&
      PROSE.has(n.name.text) &&
      isText(n.initializer)
    ) {
      // The property and the comma after it (if any).
      const after = text.slice(n.getEnd()).match(/^\s*,/);
      cuts.push([n.getStart(sf), n.getEnd() + (after ? after[0].length : 0)]);
      return;
    }
    const deeper = inSchema || isTypeBuilder(n) || isSchemaOption(n);
    ts.forEachChild(n, (c) => visit(c, deeper));
  };
  visit(sf, false);
  let out = text;
  for (const [from, to] of cuts.reverse()) out = out.slice(0, from) + out.slice(to);
  return { text: out, removed: cuts.length };
}

/** The esbuild plugin: the HTTP API's schemas and routes (agent/src/http), without the prose. */
export const schemaProse = {
  name: "lifeboat-schema-prose",
  setup(b) {
    b.onLoad({ filter: /[\\/]agent[\\/]src[\\/]http[\\/](schemas|routes[\\/]\w+)\.ts$/ }, (args) => ({
      loader: "ts",
      contents: withoutSchemaProse(readFileSync(args.path, "utf8"), args.path).text,
    }));
  },
};

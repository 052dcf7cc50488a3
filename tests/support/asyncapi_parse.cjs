// Parse the AsyncAPI document on stdin with the official parser (@asyncapi/parser):
// the document's JSON Schema and the parser's rules. Prints {"parsed", "diagnostics"} as JSON;
// severity 0 is an error, 1 a warning, 2 information, 3 a hint.
const { Parser } = require('@asyncapi/parser');

let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', async () => {
  const { document, diagnostics } = await new Parser().parse(text);
  console.log(JSON.stringify({
    parsed: document !== undefined,
    diagnostics: diagnostics.map((d) => ({
      severity: d.severity, code: d.code, message: d.message, path: d.path.join('/'),
    })),
  }));
});

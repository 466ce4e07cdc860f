/**
 * Preloaded into a function's runtime in Tier 2 (NODE_OPTIONS=--require), it observes and never
 * changes: every HTTP request the code makes with an `X-Amz-Target` (the AWS JSON protocols of
 * DynamoDB, SQS and Secrets Manager) is appended, with its body, to the file named by
 * TIER2_AWS_CALL_LOG, one JSON line each; so is every Lambda Invoke (a REST call, recorded as
 * target `Lambda.Invoke` with the function it names). The test then holds each call against the deployed
 * role's policy.
 */
const { appendFileSync } = require('node:fs');
const diagnostics = require('node:diagnostics_channel');

const log = process.env.TIER2_AWS_CALL_LOG;
if (log) {
  diagnostics.subscribe('http.client.request.created', ({ request }) => {
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(request.path ?? '');
    if (invoke) {
      const FunctionName = decodeURIComponent(invoke[1]);
      appendFileSync(
        log,
        `${JSON.stringify({ target: 'Lambda.Invoke', body: JSON.stringify({ FunctionName }) })}\n`,
      );
      return;
    }
    const target = request.getHeader('x-amz-target');
    if (!target) return;
    const chunks = [];
    const write = request.write;
    const end = request.end;
    request.write = function (chunk, ...rest) {
      if (chunk) chunks.push(Buffer.from(chunk));
      return write.call(this, chunk, ...rest);
    };
    request.end = function (chunk, ...rest) {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
      appendFileSync(
        log,
        `${JSON.stringify({ target: String(target), body: Buffer.concat(chunks).toString('utf8') })}\n`,
      );
      return end.call(this, chunk, ...rest);
    };
  });
}

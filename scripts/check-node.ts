// Runs before the tests: vitest 5 and middy 7 need Node 22 (the `node` devDependency). If npm
// install scripts were skipped, npm falls back to the system Node without saying so.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major! < 22 || (major === 22 && minor! < 18)) {
  console.error(
    `Node ${process.versions.node} is running the tests, but the project needs Node >= 22.18 ` +
      '(run through npm so that node_modules/.bin/node from the "node" devDependency is used; ' +
      'reinstall with `npm ci` if install scripts were skipped).',
  );
  process.exit(1);
}

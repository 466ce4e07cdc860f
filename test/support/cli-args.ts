/** Arguments of the CLI as the tests run it. */

/**
 * The arguments of a CLI call, with `--api-port 0` added to a `local` run that names no port:
 * test files run in parallel, and each local run would otherwise take the default port.
 */
export function withFreeApiPort(args: readonly string[]): string[] {
  return args[0] === 'local' && !args.includes('--api-port')
    ? [...args, '--api-port', '0']
    : [...args];
}

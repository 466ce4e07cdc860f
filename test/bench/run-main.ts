/**
 * How every benchmark ends: its exit status is what `main` returns (1 when a goal broke), 2 with
 * the stack trace when it threw, and `cleanup` (stopping emulators) runs either way.
 */
export function runMain(main: () => Promise<number>, cleanup?: () => Promise<void>): void {
  main()
    .then(
      (code) => {
        process.exitCode = code;
      },
      (error: unknown) => {
        process.stderr.write(
          `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
        );
        process.exitCode = 2;
      },
    )
    .finally(() => cleanup?.());
}

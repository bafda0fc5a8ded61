/**
 * Where a password comes from: --password-stdin, AUTHCTL_PASSWORD, or a
 * masked prompt — the prompt only when stdin is a terminal, so a script
 * without a password fails at once (exit 2) instead of hanging.
 */
import { password as passwordPrompt } from "@inquirer/prompts";
import { AuthError } from "../src/core/errors.ts";
import { describeError, usage } from "./output.ts";

export const isInteractive = () => Boolean(process.stdin.isTTY);

export async function readStdin(): Promise<string> {
  const text = await new Response(Bun.stdin.stream()).text();
  return text.replace(/\r?\n$/, "");
}

/** A password given without a prompt, or null when none was given. */
export async function givenPassword(opts: {
  passwordStdin?: boolean;
}): Promise<string | null> {
  if (opts.passwordStdin) {
    const value = await readStdin();
    if (!value) throw usage("--password-stdin was given but standard input was empty");
    return value;
  }
  return process.env.AUTHCTL_PASSWORD || null;
}

/**
 * Asks for a new password twice (masked) until `accept` takes it; `accept`
 * throws to refuse it, and its message is shown before asking again.
 */
export async function promptNewPassword(
  accept: (password: string) => Promise<void>,
): Promise<void> {
  for (;;) {
    const first = await passwordPrompt({ message: "Password:", mask: "*" });
    const second = await passwordPrompt({ message: "Repeat password:", mask: "*" });
    if (first !== second) {
      process.stderr.write("The passwords do not match; try again.\n");
      continue;
    }
    try {
      await accept(first);
      return;
    } catch (e) {
      const refusal =
        e instanceof AuthError && e.errors?.some((f) => f.path === "/password");
      if (!refusal) throw e;
      process.stderr.write(`Refused: ${describeError(e).message}. Try another.\n`);
    }
  }
}

export const NO_PASSWORD =
  "no password given: pipe one to --password-stdin, set AUTHCTL_PASSWORD, or run on a terminal to be prompted";

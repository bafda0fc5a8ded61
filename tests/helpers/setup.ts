/**
 * Preloaded before every test file (bunfig.toml): suites that start real
 * daemons, CLIs and PostgreSQL databases need more than bun's 5 s default.
 */
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(30_000);

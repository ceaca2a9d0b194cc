import { parseArgs } from 'node:util';
import { accountOptionsFromEnv } from './accounts/options.ts';
import { optionsFromEnv } from './env-options.ts';
import { ServerError } from './errors.ts';
import { createWosServer } from './server.ts';

/**
 * CLI: `node --import tsx signaling-server/main.ts [--port N] [--host H] [--static-dir D]
 *   [--db FILE] [--quiet]`
 *
 * Port: `--port`, else env `PORT`, else 8080 (0 picks a free port). Host: `--host`, default
 * 0.0.0.0. Limits and ICE servers come from `WOS_*` environment variables (see config.ts and
 * signaling-server/README.md). Account database: `--db`, else `WOS_DB`, else `data/wos.sqlite`
 * (`:memory:` keeps nothing). Logs one line per request to stdout unless `--quiet`.
 * SIGINT/SIGTERM close gracefully; a second signal exits at once.
 */
const USAGE =
  'usage: main.ts [--port N] [--host ADDR] [--static-dir DIR] [--db FILE|:memory:] [--quiet]\n' +
  '  env: PORT, WOS_ICE_SERVERS (JSON), WOS_API_RATE/BURST, WOS_WS_RATE/BURST, WOS_WS_MSG_RATE/BURST,\n' +
  '       WOS_WS_MAX_PER_IP, WOS_MAX_PEERS, WOS_ALIVE_TIMEOUT_MS, WOS_STATIC_DIR, WOS_TRUST_PROXY=1,\n' +
  '       WOS_DB, WOS_LOGIN_MAX_FAILURES, WOS_LOGIN_WINDOW_MS, WOS_ACCOUNT_RATE/BURST';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '0.0.0.0' },
      'static-dir': { type: 'string' },
      db: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const rawPort = values.port ?? process.env.PORT ?? '8080';
  const port = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || port > 65535)
    throw new Error(`invalid port ${JSON.stringify(rawPort)}`);
  const env = optionsFromEnv(process.env);
  const accounts = accountOptionsFromEnv(process.env);
  if (values.db !== undefined) accounts.db = values.db;
  const server = await createWosServer({
    ...env,
    accounts,
    port,
    host: values.host,
    ...(values['static-dir'] ? { staticDir: values['static-dir'] } : {}),
    ...(values.quiet ? {} : { log: (line: string) => process.stdout.write(`${line}\n`) }),
  });
  process.stdout.write(`WOS running at http://localhost:${server.port}/\n`);
  process.stdout.write(`Account database: ${server.accountDb}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`${signal}: shutting down\n`);
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  const msg = err instanceof ServerError ? `${err.code}: ${err.message}` : String(err);
  process.stderr.write(`wos-server: ${msg}\n${USAGE}\n`);
  process.exit(2);
});

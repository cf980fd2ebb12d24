// Typed tests of the public API through the ESM entry point. `tsc` fails if
// a line without @ts-expect-error does not type-check, or if a line with it
// does.
import {
  VaultClient,
  VaultError,
  NotFoundError,
  PermissionDeniedError,
  DaemonUnavailableError,
  TimeoutError,
  ClientClosedError,
  NameTakenError,
  PROTOCOL_VERSION,
  type HealthResult,
  type VaultClientOptions,
  Watcher,
  type ChangeEvent,
  type StaleEvent,
  type WatchEvent,
} from '@jawn-vault/client';

const options: VaultClientOptions = { socketPath: '/run/user/1000/jawn-vault.sock', token: 'jv_x', timeoutMs: 5000 };
const vault = new VaultClient(options);
new VaultClient();
// @ts-expect-error: not an option
new VaultClient({ sockPath: '/x' });

export async function usage(): Promise<void> {
  const text: string = await vault.get('claude/tokens/telegram-bot');
  const bytes: Buffer = await vault.getBytes('claude/tokens/telegram-bot');
  const done: void = await vault.set('a/b', 'text');
  await vault.set('a/b', Buffer.from([0xff]));
  await vault.set('a/b', new Uint8Array([1, 2]));
  // @ts-expect-error: values are strings or bytes
  await vault.set('a/b', 42);
  const paths: string[] = await vault.list();
  await vault.list('claude/');
  await vault.delete('a/b');
  const health: HealthResult = await vault.health();
  const protocol: number = health.protocol;
  const env: Record<string, string> = await vault.getMany({ TELEGRAM_BOT_TOKEN: 'claude/tokens/telegram-bot' });
  await vault.getMany(new Map([['A', 'a']]));
  // @ts-expect-error: paths are strings
  await vault.getMany({ A: 1 });
  const closed: boolean = vault.closed;
  // @ts-expect-error: the token is private
  vault.token;
  await vault.close();
  void [text, bytes, done, paths, protocol, env, closed, PROTOCOL_VERSION satisfies number];

  try {
    await vault.get('x');
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof PermissionDeniedError) {
      const code: string = err.code;
      const base: VaultError = err;
      void [code, base];
    }
    if (err instanceof TimeoutError) {
      const unavailable: DaemonUnavailableError = err;
      void unavailable;
    }
    if (err instanceof NameTakenError) {
      const code: string = err.code;
      const base: VaultError = err;
      void [code, base];
    }
    if (err instanceof ClientClosedError) {
      const name: string = err.name;
      void name;
    }
  }
}

export async function watching(): Promise<void> {
  const w: Watcher = await vault.watch({ paths: ['a/b'] });
  await vault.watch({ prefix: 'a/' });
  await vault.watch();
  // @ts-expect-error: paths is a list
  await vault.watch({ paths: 'a/b' });
  w.on('change', (ev: ChangeEvent) => void (ev.path + ev.version));
  w.on('stale', (ev: StaleEvent) => void ev.version);
  for await (const ev of w) {
    const e: WatchEvent = ev;
    void e;
  }
  await w.close();
}

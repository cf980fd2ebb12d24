// The same API through the CommonJS entry point's declarations.
import jv = require('@jawn-vault/client');

const vault = new jv.VaultClient({ timeoutMs: 1000 });

export async function usage(): Promise<string> {
  const err: jv.VaultError = new jv.NotFoundError('no such entry');
  void err.code;
  const taken: jv.VaultError = new jv.NameTakenError('a live token is already named x', 'id-1');
  void taken.requestId;
  const env: Record<string, string> = await vault.getMany({ A: 'a/b' });
  void env;
  // @ts-expect-error: get takes a path string
  await vault.get(1);
  return vault.get('claude/api/anthropic');
}

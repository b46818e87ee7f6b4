import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

/** A throw-away npm registry (verdaccio) on 127.0.0.1, with its own storage, config and auth token. */
export interface LocalRegistry {
  /** e.g. http://127.0.0.1:41234/ */
  url: string;
  /** An npmrc that points at this registry and carries its token; give it to clients as their user config. */
  npmrc: string;
  /**
   * The environment for npm/pnpm child processes: the caller's, minus every npm_config_* setting (pnpm passes
   * its own to scripts), with the user config swapped for `npmrc` so nothing reads or writes ~/.npmrc.
   */
  env: NodeJS.ProcessEnv;
  /** The server's output so far (for failure messages). */
  log(): string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; the server binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The registry the user's npm is configured with (a mirror, if they use one): verdaccio's uplink. */
export function configuredRegistry(): string {
  try {
    const url = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim();
    return url.startsWith('http') ? url : 'https://registry.npmjs.org/';
  } catch {
    return 'https://registry.npmjs.org/';
  }
}

/** Environment without any npm_config_* (any case): those would override the temp npmrc. */
export function cleanNpmEnv(npmrc: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_config_/i.test(k)) env[k] = v;
  env.npm_config_userconfig = npmrc;
  env.npm_config_update_notifier = 'false';
  return env;
}

/**
 * verdaccio's config: `scope` packages are local only (never looked up upstream, so a name taken on the public
 * registry cannot leak in), everything else is proxied from `uplink`; publishing needs a logged-in user.
 */
export function verdaccioConfig(dir: string, uplink: string, scope: string): string {
  return [
    `storage: ${JSON.stringify(join(dir, 'storage'))}`,
    'auth:',
    '  htpasswd:',
    `    file: ${JSON.stringify(join(dir, 'htpasswd'))}`,
    '    max_users: 1',
    'uplinks:',
    '  upstream:',
    `    url: ${JSON.stringify(uplink)}`,
    '    timeout: 60s',
    // verdaccio's default (2 failures mark the uplink down for 5 minutes) turns one network hiccup into a
    // run of 404s; retry instead
    '    max_fails: 20',
    '    fail_timeout: 5s',
    'packages:',
    `  '${scope}/*':`,
    '    access: $all',
    '    publish: $authenticated',
    "  '**':",
    '    access: $all',
    '    publish: $authenticated',
    '    proxy: upstream',
    'web:',
    '  enable: false',
    'max_body_size: 200mb',
    'log: { type: stdout, format: pretty, level: warn }',
    '',
  ].join('\n');
}

/**
 * Starts verdaccio (the release tool's devDependency) in `dir`, waits until it answers, creates a user through
 * the registry's login endpoint and writes an npmrc holding that user's token. Nothing outside `dir` is
 * written; the token only works against this server, which dies with `stop()`.
 */
export async function startLocalRegistry(options: {
  dir: string;
  uplink: string;
  scope: string;
  timeoutMs?: number;
}): Promise<LocalRegistry> {
  const { dir } = options;
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const config = join(dir, 'config.yaml');
  writeFileSync(config, verdaccioConfig(dir, options.uplink, options.scope));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}/`;
  const bin = join(
    dirname(createRequire(import.meta.url).resolve('verdaccio/package.json')),
    'bin',
    'verdaccio',
  );
  let output = '';
  const child: ChildProcess = spawn(process.execPath, [bin, '--config', config, '--listen', host], {
    cwd: dir,
    env: { ...cleanNpmEnv(join(dir, 'npmrc')), NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // if the test process dies first, do not leave a server behind
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  try {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      if (child.exitCode !== null) throw new Error(`verdaccio exited with ${child.exitCode}:\n${output}`);
      try {
        if ((await requestJson('GET', `${url}-/ping`)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`verdaccio did not answer on ${url} in time:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // the npm login protocol: PUT the user document, get a token back
    const user = 'release-test';
    const res = await requestJson('PUT', `${url}-/user/org.couchdb.user:${user}`, {
      name: user,
      password: `pw-${process.pid}-${Date.now()}`,
    });
    const token = (res.body as { token?: string } | undefined)?.token;
    if (res.status >= 300 || !token)
      throw new Error(`verdaccio refused the test user: ${JSON.stringify(res.body)}`);
    const npmrc = join(dir, 'npmrc');
    // Only the scope resolves through verdaccio; everything else comes straight from the uplink. Proxying
    // third-party packages through verdaccio made installs flaky on a loaded machine (uplink timeouts turned
    // into 404s for @tensorflow/* packages), and they are not what this test proves.
    writeFileSync(
      npmrc,
      `registry=${options.uplink}\n${options.scope}:registry=${url}\n//${host}/:_authToken=${token}\n`,
    );
    return { url, npmrc, env: cleanNpmEnv(npmrc), log: () => output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * One JSON request on a fresh connection: verdaccio closes idle keep-alive sockets, and a pooled client
 * (fetch) then fails now and then with EPIPE on the reused one.
 */
function requestJson(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method,
        agent: false,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch (err) {
            reject(
              new Error(`${method} ${url}: not JSON (${(err as Error).message}): ${text.slice(0, 200)}`),
            );
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The version of `name` the registry serves as `latest`, or undefined when it does not have the package. */
export async function publishedVersion(registry: string, name: string): Promise<string | undefined> {
  const { status, body } = await requestJson('GET', `${registry}${name.replace('/', '%2f')}`);
  if (status === 404) return undefined;
  if (status !== 200) throw new Error(`${registry}: GET ${name} answered ${status}`);
  return (body as { 'dist-tags'?: { latest?: string } })['dist-tags']?.latest;
}

/** The user's ~/.npmrc, or undefined: read before and after, to prove the test left it alone. */
export function userNpmrc(home: string): string | undefined {
  try {
    return readFileSync(join(home, '.npmrc'), 'utf8');
  } catch {
    return undefined;
  }
}

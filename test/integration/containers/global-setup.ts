/**
 * Once per run, before the container test files: is Docker there, and the images they
 * use, built locally by docker/build-local-images.sh (no registry needed). Outside CI a
 * machine without Docker skips the container tests with one line saying why; with
 * CI=true that is a failure.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { composeCommand, dockerUnreachable, type ContainerEnv } from './docker.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const IMAGES = { node: 'meshgate-local/node:20', nats: 'meshgate-local/nats:local', meshgate: 'meshgate:local' };
const BUILD_TIMEOUT_MS = 10 * 60_000;

const inCi = () => process.env.CI === 'true' || process.env.CI === '1';

export default async function setup(project: TestProject): Promise<void> {
  const env: ContainerEnv = { skip: undefined, composeSkip: undefined, compose: [], images: IMAGES };
  const unreachable = await dockerUnreachable();
  if (unreachable) {
    if (inCi()) throw new Error(`container tests: ${unreachable}; CI must run them (start dockerd first)`);
    env.skip = `Docker is not reachable: ${unreachable}`;
    console.warn(`container tests skipped: ${env.skip} (with CI=true this fails)`);
    project.provide('containers', env);
    return;
  }
  const compose = await composeCommand();
  if (compose) env.compose = compose;
  else if (inCi()) throw new Error('container tests: neither `docker compose` nor `docker-compose` is installed; CI must run the Compose test');
  else {
    env.composeSkip = 'neither `docker compose` nor `docker-compose` is installed';
    console.warn(`compose test skipped: ${env.composeSkip}`);
  }
  await buildImages();
  project.provide('containers', env);
}

/** docker/build-local-images.sh, its progress lines passed through. */
function buildImages(): Promise<void> {
  const started = Date.now();
  console.log('[containers] building the local images (docker/build-local-images.sh)');
  return new Promise((resolve, reject) => {
    const child = spawn('docker/build-local-images.sh', [], {
      cwd: ROOT,
      env: { ...process.env, NODE_IMAGE: IMAGES.node, NATS_IMAGE: IMAGES.nats, MESHGATE_IMAGE: IMAGES.meshgate },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const relay = (chunk: Buffer) => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      for (const line of text.split('\n')) if (line.startsWith('==>')) console.log(`[containers] ${line.slice(4)}`);
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGTERM'), BUILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        console.log(`[containers] images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        resolve();
      } else reject(new Error(`docker/build-local-images.sh ${signal ? `was killed (${signal}, past ${BUILD_TIMEOUT_MS / 60_000} min)` : `exited ${code}`}:\n${tail}`));
    });
  });
}

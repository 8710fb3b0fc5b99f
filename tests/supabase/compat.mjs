// The official Supabase JS clients against a running nimbus, unchanged: only the URL differs.
// Usage: NIMBUS_URL=http://127.0.0.1:PORT NIMBUS_APIKEY=... node compat.mjs
// The app must be `compat` with an `owner` bucket `files` and a `public-read` bucket `avatars`
// (see tests/e2e/supabase.rs). Every step asserts its result; any failure exits non-zero.
import assert from 'node:assert/strict';
import { AuthClient } from '@supabase/auth-js';
import { StorageClient } from '@supabase/storage-js';
import * as jose from 'jose';

const base = process.env.NIMBUS_URL;
const apikey = process.env.NIMBUS_APIKEY;
assert.ok(base && apikey, 'set NIMBUS_URL and NIMBUS_APIKEY');

const steps = [];
async function step(name, body) {
  try {
    await body();
    steps.push(name);
    console.log(`ok - ${name}`);
  } catch (error) {
    console.error(`not ok - ${name}`);
    throw error;
  }
}

function authClient() {
  return new AuthClient({
    url: `${base}/auth/v1`,
    headers: { apikey, Authorization: `Bearer ${apikey}` },
    persistSession: false,
    autoRefreshToken: false,
  });
}

function storageFor(accessToken) {
  return new StorageClient(`${base}/storage/v1`, {
    apikey,
    Authorization: `Bearer ${accessToken}`,
  });
}

const auth = authClient();
const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const email = `ann-${stamp}@example.com`;
const password = 'correct horse battery';
let session;
let user;

await step('signUp returns a session and the user', async () => {
  const { data, error } = await auth.signUp({ email, password, options: { data: { name: 'Ann' } } });
  assert.equal(error, null);
  assert.ok(data.session?.access_token, 'access token');
  assert.equal(data.session.token_type, 'bearer');
  assert.ok(data.session.expires_at > Date.now() / 1000);
  assert.equal(data.user.email, email);
  assert.equal(data.user.user_metadata.name, 'Ann');
});

await step('signUp with the same email is an AuthApiError', async () => {
  const { data, error } = await authClient().signUp({ email, password });
  assert.equal(data.user, null);
  assert.equal(error.name, 'AuthApiError');
  assert.equal(error.code, 'user_already_exists');
  assert.equal(error.status, 422);
});

await step('signInWithPassword with a wrong password is invalid_credentials', async () => {
  const { error } = await authClient().signInWithPassword({ email, password: 'wrong password' });
  assert.equal(error.name, 'AuthApiError');
  assert.equal(error.code, 'invalid_credentials');
  assert.equal(error.status, 400);
  const unknown = await authClient().signInWithPassword({ email: `nobody-${stamp}@example.com`, password });
  assert.equal(unknown.error.code, 'invalid_credentials');
  assert.equal(unknown.error.message, error.message);
});

await step('signInWithPassword', async () => {
  const { data, error } = await auth.signInWithPassword({ email, password });
  assert.equal(error, null);
  session = data.session;
  user = data.user;
  assert.equal(user.email, email);
  assert.ok(session.refresh_token);
});

await step('getUser', async () => {
  const { data, error } = await auth.getUser();
  assert.equal(error, null);
  assert.equal(data.user.id, user.id);
  assert.equal(data.user.email, email);
  assert.equal(data.user.role, 'authenticated');
});

await step('the access token verifies with jose from the JWKS', async () => {
  const jwks = jose.createRemoteJWKSet(new URL(`${base}/auth/v1/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jose.jwtVerify(session.access_token, jwks, {
    issuer: 'nimbus:compat',
    audience: 'compat',
    algorithms: ['ES256'],
  });
  assert.equal(payload.sub, user.id);
  assert.equal(protectedHeader.alg, 'ES256');
  assert.ok(protectedHeader.kid);
});

await step('refreshSession rotates the refresh token', async () => {
  const old = session.refresh_token;
  const { data, error } = await auth.refreshSession();
  assert.equal(error, null);
  assert.notEqual(data.session.refresh_token, old);
  assert.notEqual(data.session.access_token, session.access_token);
  session = data.session;
});

await step('updateUser changes metadata', async () => {
  const { data, error } = await auth.updateUser({ data: { plan: 'pro' } });
  assert.equal(error, null);
  assert.equal(data.user.user_metadata.plan, 'pro');
  assert.equal(data.user.user_metadata.name, 'Ann');
});

const folder = user.id;
const path = `${folder}/notes/hello.txt`;

await step('upload a string', async () => {
  const storage = storageFor(session.access_token);
  const { data, error } = await storage.from('files').upload(path, 'hello nimbus', { contentType: 'text/plain' });
  assert.equal(error, null);
  assert.equal(data.path, path);
  assert.equal(data.fullPath, `files/${path}`);
  assert.ok(data.id);
});

await step('upload to an existing path without upsert is a 409 Duplicate', async () => {
  const { error } = await storageFor(session.access_token).from('files').upload(path, 'again');
  assert.equal(error.name, 'StorageApiError');
  assert.equal(error.status, 409);
});

await step('upsert a Blob (multipart form, as browsers send it)', async () => {
  const blob = new Blob(['hello again'], { type: 'text/plain' });
  const { error } = await storageFor(session.access_token).from('files').upload(path, blob, { upsert: true });
  assert.equal(error, null);
});

await step('download', async () => {
  const { data, error } = await storageFor(session.access_token).from('files').download(path);
  assert.equal(error, null);
  assert.equal(await data.text(), 'hello again');
  assert.equal(data.type, 'text/plain');
});

await step('update (PUT) replaces the content', async () => {
  const storage = storageFor(session.access_token).from('files');
  const { error } = await storage.update(path, 'third version', { contentType: 'text/plain' });
  assert.equal(error, null);
  const { data } = await storage.download(path);
  assert.equal(await data.text(), 'third version');
});

await step('list a folder: files with metadata, folders with id null', async () => {
  const storage = storageFor(session.access_token).from('files');
  await storage.upload(`${folder}/notes/deeper/x.txt`, 'x', { contentType: 'text/plain' });
  const { data, error } = await storage.list(`${folder}/notes`);
  assert.equal(error, null);
  const file = data.find((entry) => entry.name === 'hello.txt');
  assert.ok(file, JSON.stringify(data));
  assert.equal(file.metadata.size, 'third version'.length);
  assert.equal(file.metadata.mimetype, 'text/plain');
  const dir = data.find((entry) => entry.name === 'deeper');
  assert.ok(dir, JSON.stringify(data));
  assert.equal(dir.id, null);
  const top = await storage.list(folder);
  assert.deepEqual(top.data.map((entry) => entry.name), ['notes']);
  const searched = await storage.list(`${folder}/notes`, { search: 'hel' });
  assert.deepEqual(searched.data.map((entry) => entry.name), ['hello.txt']);
});

await step('user metadata: text values kept and listed, other values refused', async () => {
  const storage = storageFor(session.access_token).from('files');
  const tagged = `${folder}/tagged.txt`;
  const { error } = await storage.upload(tagged, 'x', { contentType: 'text/plain', metadata: { owner: 'ann' } });
  assert.equal(error, null);
  const { data } = await storage.list(folder);
  const entry = data.find((e) => e.name === 'tagged.txt');
  assert.deepEqual(entry.user_metadata, { owner: 'ann' });
  const refused = await storage.upload(`${folder}/typed.txt`, 'x', { metadata: { count: 5 } });
  assert.equal(refused.error.status, 400);
  assert.match(refused.error.message, /strings/);
  await storage.remove([tagged]);
});

await step('createSignedUrl works without credentials, only for its object', async () => {
  const { data, error } = await storageFor(session.access_token).from('files').createSignedUrl(path, 60);
  assert.equal(error, null);
  const response = await fetch(data.signedUrl);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'third version');
  const elsewhere = data.signedUrl.replace('hello.txt', 'other.txt');
  assert.equal((await fetch(elsewhere)).status, 400);
});

await step('another user cannot read, list or overwrite these files', async () => {
  const other = authClient();
  const { data } = await other.signUp({ email: `bob-${stamp}@example.com`, password });
  const storage = storageFor(data.session.access_token).from('files');
  const read = await storage.download(path);
  assert.equal(read.error.status, 403);
  const listed = await storage.list(folder);
  assert.equal(listed.error.status, 403);
  const written = await storage.upload(path, 'mine now', { upsert: true });
  assert.equal(written.error.status, 403);
});

await step('public bucket: getPublicUrl is readable without a token', async () => {
  const storage = storageFor(session.access_token).from('avatars');
  const avatar = `${folder}/avatar.txt`;
  const { error } = await storage.upload(avatar, 'face', { contentType: 'text/plain' });
  assert.equal(error, null);
  const { data } = storage.getPublicUrl(avatar);
  const response = await fetch(data.publicUrl);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'face');
});

await step('move and copy', async () => {
  const storage = storageFor(session.access_token).from('files');
  const moved = `${folder}/moved.txt`;
  const copied = `${folder}/copied.txt`;
  assert.equal((await storage.copy(path, copied)).error, null);
  assert.equal((await storage.move(path, moved)).error, null);
  assert.equal((await storage.download(path)).error.status, 404);
  assert.equal(await (await storage.download(moved)).data.text(), 'third version');
  assert.equal(await (await storage.download(copied)).data.text(), 'third version');
});

await step('remove', async () => {
  const storage = storageFor(session.access_token).from('files');
  const { data, error } = await storage.remove([`${folder}/moved.txt`, `${folder}/copied.txt`]);
  assert.equal(error, null);
  assert.equal(data.length, 2);
  assert.equal((await storage.download(`${folder}/moved.txt`)).error.status, 404);
});

await step('signOut ends the session: its refresh token no longer works', async () => {
  const refresh = session.refresh_token;
  const { error } = await auth.signOut();
  assert.equal(error, null);
  const again = await authClient().refreshSession({ refresh_token: refresh });
  assert.ok(again.error, 'refresh after sign-out must fail');
  const user = await authClient().getUser(session.access_token);
  assert.ok(user.error, 'getUser after sign-out must fail');
});

console.log(`all ${steps.length} steps passed`);

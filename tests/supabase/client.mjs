// The whole @supabase/supabase-js client against a running nimbus, one check per row of the
// README's compatibility table (## Supabase compatibility): each row's method, and whether it
// works, differs or is not offered, must be what the check below finds. The rows of the table
// and the checks here must be the same set: a row without a check, or a check without a row,
// fails the run.
//
// Usage: NIMBUS_URL=... NIMBUS_APIKEY=... NIMBUS_SECRET_KEY=... NIMBUS_README=.../README.md \
//        node --experimental-websocket client.mjs
// The app is tests/e2e/supabase.rs' CLIENT manifest.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createClient } from '@supabase/supabase-js';

const base = process.env.NIMBUS_URL;
const apikey = process.env.NIMBUS_APIKEY;
const secret = process.env.NIMBUS_SECRET_KEY;
const readme = process.env.NIMBUS_README;
assert.ok(base && apikey && secret && readme, 'set NIMBUS_URL, NIMBUS_APIKEY, NIMBUS_SECRET_KEY and NIMBUS_README');

const options = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const client = (flowType = 'implicit') =>
  createClient(base, apikey, { ...options, auth: { ...options.auth, flowType } });
const admin = createClient(base, secret, options);
const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const address = (name) => `${name}-${stamp}@example.com`;
const password = 'correct horse battery';

/** A signed-in client of a new user. */
async function signedIn(name) {
  const supabase = client();
  const { error } = await supabase.auth.signUp({ email: address(name), password });
  assert.equal(error, null);
  const { data } = await supabase.auth.getUser();
  return { supabase, user: data.user };
}

/** The newest mail to `email` in the development mailbox (waiting up to 10 s for it, as
 * some mails go out after the answer), and its link and code. */
async function mailTo(email) {
  const deadline = Date.now() + 10_000;
  let mails = [];
  while (mails.length === 0 && Date.now() < deadline) {
    const response = await fetch(`${base}/admin/v1/mail?to=${encodeURIComponent(email)}`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(response.status, 200);
    mails = (await response.json()).mails;
    if (mails.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(mails.length > 0, `a mail to ${email}`);
  const body = mails[0].body;
  const link = body.split(/\s+/).find((word) => word.includes('/auth/v1/verify?'));
  const code = body.match(/\b\d{6}\b/)?.[0];
  return { mail: mails[0], link, code };
}

/** Where a link sends the browser, without following it. */
async function landing(link) {
  const response = await fetch(link, { redirect: 'manual' });
  assert.equal(response.status, 303);
  return response.headers.get('location');
}

/** One signed-in user for the storage rows (each works in a folder of its own), so that the
 * run stays within the per-address sign-in bucket. */
let sharedUser;
async function shared() {
  sharedUser ??= await signedIn('storage');
  return sharedUser;
}

const checks = new Map();
function row(method, status, check) {
  assert.ok(!checks.has(method), `two checks for ${method}`);
  checks.set(method, { status, check });
}

// ---- auth ----
row('auth.signUp', 'works', async () => {
  const supabase = client();
  const { data, error } = await supabase.auth.signUp({ email: address('signup'), password, options: { data: { name: 'Ann' } } });
  assert.equal(error, null);
  assert.ok(data.session.access_token);
  assert.equal(data.user.user_metadata.name, 'Ann');
});
row('auth.signInWithPassword', 'works', async () => {
  const email = address('password');
  await client().auth.signUp({ email, password });
  const { data, error } = await client().auth.signInWithPassword({ email, password });
  assert.equal(error, null);
  assert.equal(data.user.email, email);
  const wrong = await client().auth.signInWithPassword({ email, password: 'wrong password' });
  assert.equal(wrong.error.code, 'invalid_credentials');
});
row('auth.signInAnonymously', 'works', async () => {
  const supabase = client();
  const { data, error } = await supabase.auth.signInAnonymously();
  assert.equal(error, null);
  assert.equal(data.user.is_anonymous, true);
  const upgraded = await supabase.auth.updateUser({ email: address('anon'), password });
  assert.equal(upgraded.error, null);
  assert.equal(upgraded.data.user.is_anonymous, false);
});
row('auth.getUser', 'works', async () => {
  const { supabase, user } = await signedIn('getuser');
  const { data } = await supabase.auth.getUser();
  assert.equal(data.user.id, user.id);
});
row('auth.getClaims', 'works', async () => {
  const { supabase, user } = await signedIn('claims');
  const { data, error } = await supabase.auth.getClaims();
  assert.equal(error, null);
  assert.equal(data.claims.sub, user.id);
  assert.equal(data.header.alg, 'ES256');
});
row('auth.refreshSession', 'works', async () => {
  const { supabase } = await signedIn('refresh');
  const before = (await supabase.auth.getSession()).data.session;
  const { data, error } = await supabase.auth.refreshSession();
  assert.equal(error, null);
  assert.notEqual(data.session.refresh_token, before.refresh_token);
});
row('auth.updateUser', 'works', async () => {
  const { supabase } = await signedIn('update');
  const { data, error } = await supabase.auth.updateUser({ data: { theme: 'dark' }, password: 'another password' });
  assert.equal(error, null);
  assert.equal(data.user.user_metadata.theme, 'dark');
  const email = address('update-new');
  const changed = await supabase.auth.updateUser({ email });
  assert.equal(changed.error, null);
  assert.equal(changed.data.user.new_email, email);
  const { link } = await mailTo(email);
  assert.match(await landing(link), /#access_token=/);
});
row('auth.signOut', 'works', async () => {
  const { supabase } = await signedIn('signout');
  const refresh = (await supabase.auth.getSession()).data.session.refresh_token;
  assert.equal((await supabase.auth.signOut({ scope: 'global' })).error, null);
  const again = await client().auth.refreshSession({ refresh_token: refresh });
  assert.ok(again.error);
});
row('auth.signInWithOtp', 'works', async () => {
  const email = address('otp');
  const { error } = await client().auth.signInWithOtp({ email });
  assert.equal(error, null);
  const { code } = await mailTo(email);
  const { data, error: verifyError } = await client().auth.verifyOtp({ email, token: code, type: 'email' });
  assert.equal(verifyError, null);
  assert.equal(data.user.email, email);
});
row('auth.resetPasswordForEmail', 'works', async () => {
  const email = address('reset');
  await client().auth.signUp({ email, password });
  assert.equal((await client().auth.resetPasswordForEmail(email)).error, null);
  const { link } = await mailTo(email);
  assert.match(await landing(link), /type=recovery/);
});
row('auth.resend', 'works', async () => {
  const email = address('resend');
  await admin.auth.admin.createUser({ email, password });
  assert.equal((await client().auth.resend({ type: 'signup', email })).error, null);
  const { mail } = await mailTo(email);
  assert.equal(mail.subject, 'Confirm Your Signup');
});
row('auth.reauthenticate', 'works', async () => {
  const { supabase, user } = await signedIn('reauth');
  assert.equal((await supabase.auth.reauthenticate()).error, null);
  const { code } = await mailTo(user.email);
  const { error } = await supabase.auth.updateUser({ password: 'a reauthenticated password', nonce: code });
  assert.equal(error, null);
});
row('auth.exchangeCodeForSession', 'works', async () => {
  const email = address('pkce');
  const supabase = client('pkce');
  assert.equal((await supabase.auth.signInWithOtp({ email, options: { emailRedirectTo: `${base}/done` } })).error, null);
  const { link } = await mailTo(email);
  const code = new URL(await landing(link)).searchParams.get('code');
  assert.ok(code, 'an authorization code');
  const { data, error } = await supabase.auth.exchangeCodeForSession(code);
  assert.equal(error, null);
  assert.equal(data.user.email, email);
});
row('auth.admin (users, generateLink, inviteUserByEmail)', 'works', async () => {
  const email = address('admin');
  const created = await admin.auth.admin.createUser({ email, password, email_confirm: true, app_metadata: { plan: 'pro' } });
  assert.equal(created.error, null);
  const id = created.data.user.id;
  assert.equal((await admin.auth.admin.getUserById(id)).data.user.app_metadata.plan, 'pro');
  const listed = await admin.auth.admin.listUsers({ page: 1, perPage: 1 });
  assert.equal(listed.error, null);
  assert.equal(listed.data.users.length, 1);
  assert.ok(listed.data.total >= 1);
  assert.equal((await admin.auth.admin.updateUserById(id, { user_metadata: { a: 1 } })).data.user.user_metadata.a, 1);
  const link = await admin.auth.admin.generateLink({ type: 'magiclink', email });
  assert.equal(link.error, null);
  assert.match(link.data.properties.action_link, /\/auth\/v1\/verify\?/);
  assert.equal((await admin.auth.admin.inviteUserByEmail(address('invited'))).error, null);
  assert.equal((await admin.auth.admin.deleteUser(id)).error, null);
  // The publishable key may not.
  const refused = await client().auth.admin.listUsers();
  assert.equal(refused.error.status, 403);
});
row('auth.admin.signOut', 'works', async () => {
  const { supabase } = await signedIn('adminsignout');
  const jwt = (await supabase.auth.getSession()).data.session.access_token;
  assert.equal((await admin.auth.admin.signOut(jwt)).error, null);
  assert.ok((await client().auth.getUser(jwt)).error);
});
row('auth.signInWithOAuth', 'not offered', async () => {
  const { data } = await client().auth.signInWithOAuth({ provider: 'github', options: { skipBrowserRedirect: true } });
  const response = await fetch(data.url, { headers: { accept: 'application/json' } });
  assert.equal(response.status, 400);
  assert.deepEqual((await response.json()).providers, []);
});
row('auth.signInWithOtp (phone)', 'not offered', async () => {
  const { error } = await client().auth.signInWithOtp({ phone: '+15555550100' });
  assert.equal(error.status, 400);
  assert.match(error.message, /phone/);
});
row('auth.mfa', 'not offered', async () => {
  const { supabase } = await signedIn('mfa');
  const { error } = await supabase.auth.mfa.enroll({ factorType: 'totp' });
  assert.ok(error && typeof error.message === 'string');
});
row('auth.admin.updateUserById (ban_duration)', 'not offered', async () => {
  const created = await admin.auth.admin.createUser({ email: address('ban'), password });
  const { error } = await admin.auth.admin.updateUserById(created.data.user.id, { ban_duration: '24h' });
  assert.equal(error.status, 400);
  assert.match(error.message, /ban/);
});
row('custom access token claims', 'differs', async () => {
  const { supabase } = await signedIn('customclaims');
  const { data } = await supabase.auth.getClaims();
  assert.equal(data.claims.app_metadata, undefined);
  assert.equal(data.claims.role, 'authenticated');
});

// ---- storage ----
row('storage.from().upload, download, update, remove', 'works', async () => {
  const { supabase, user } = await shared();
  const files = supabase.storage.from('files');
  const path = `${user.id}/crud/a.txt`;
  assert.equal((await files.upload(path, 'one', { contentType: 'text/plain' })).error, null);
  assert.equal((await files.update(path, 'two', { contentType: 'text/plain' })).error, null);
  assert.equal(await (await files.download(path)).data.text(), 'two');
  assert.equal((await files.remove([path])).error, null);
});
row('storage.from().list, listV2', 'works', async () => {
  const { supabase, user } = await shared();
  const files = supabase.storage.from('files');
  await files.upload(`${user.id}/listing/x.txt`, 'x');
  const root = await files.list();
  assert.deepEqual(root.data.map((e) => e.name), [user.id]);
  const v2 = await files.listV2({ prefix: `${user.id}/listing/` });
  assert.equal(v2.error, null);
  assert.deepEqual(v2.data.objects.map((o) => o.name), [`${user.id}/listing/x.txt`]);
});
row('storage.from().info, exists', 'works', async () => {
  const { supabase, user } = await shared();
  const files = supabase.storage.from('files');
  await files.upload(`${user.id}/i.txt`, 'info', { contentType: 'text/plain', metadata: { k: 'v' } });
  const info = await files.info(`${user.id}/i.txt`);
  assert.equal(info.error, null);
  assert.equal(info.data.size, 4);
  assert.deepEqual(info.data.metadata, { k: 'v' });
  assert.equal((await files.exists(`${user.id}/i.txt`)).data, true);
  assert.equal((await files.exists(`${user.id}/missing.txt`)).data, false);
  const other = await signedIn('info-other');
  assert.equal((await other.supabase.storage.from('files').exists(`${user.id}/i.txt`)).data, false);
});
row('storage.from().move, copy', 'works', async () => {
  const { supabase, user } = await shared();
  const files = supabase.storage.from('files');
  await files.upload(`${user.id}/m.txt`, 'm');
  assert.equal((await files.copy(`${user.id}/m.txt`, `${user.id}/c.txt`)).error, null);
  assert.equal((await files.move(`${user.id}/m.txt`, `${user.id}/n.txt`)).error, null);
});
row('storage.from().createSignedUrl, createSignedUrls, createSignedUploadUrl', 'works', async () => {
  const { supabase, user } = await shared();
  const files = supabase.storage.from('files');
  await files.upload(`${user.id}/s.txt`, 'signed');
  const one = await files.createSignedUrl(`${user.id}/s.txt`, 60);
  assert.equal(await (await fetch(one.data.signedUrl)).text(), 'signed');
  const many = await files.createSignedUrls([`${user.id}/s.txt`, `${user.id}/none.txt`], 60);
  assert.ok(many.data[0].signedUrl);
  assert.equal(many.data[1].signedUrl, null);
  const upload = await files.createSignedUploadUrl(`${user.id}/u.txt`);
  assert.equal((await files.uploadToSignedUrl(`${user.id}/u.txt`, upload.data.token, 'via token')).error, null);
});
row('storage.from().getPublicUrl', 'works', async () => {
  const { supabase, user } = await shared();
  await supabase.storage.from('avatars').upload(`${user.id}/p.txt`, 'public');
  const { data } = supabase.storage.from('avatars').getPublicUrl(`${user.id}/p.txt`);
  assert.equal(await (await fetch(data.publicUrl)).text(), 'public');
});
row('storage image transformations', 'works', async () => {
  const { supabase, user } = await shared();
  // A 2×1 PNG.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4z8AARAAI/gH/xp559wAAAABJRU5ErkJggg==', 'base64');
  const files = supabase.storage.from('files');
  assert.equal((await files.upload(`${user.id}/p.png`, png, { contentType: 'image/png' })).error, null);
  const { data, error } = await files.download(`${user.id}/p.png`, { transform: { width: 1, height: 1 } });
  assert.equal(error, null);
  assert.ok(data.size > 0);
  const signed = await files.createSignedUrl(`${user.id}/p.png`, 60, { transform: { width: 1, height: 1 } });
  assert.match(signed.data.signedUrl, /\/render\/image\/sign\//);
  assert.equal((await fetch(signed.data.signedUrl)).status, 200);
});
row('storage.listBuckets, getBucket', 'works', async () => {
  const { supabase } = await shared();
  const { data } = await supabase.storage.listBuckets();
  assert.deepEqual(data.map((b) => b.name).sort(), ['avatars', 'files']);
  assert.equal((await supabase.storage.getBucket('avatars')).data.public, true);
});
row('storage.createBucket, updateBucket, deleteBucket, emptyBucket', 'differs', async () => {
  const { error } = await admin.storage.createBucket('new');
  assert.equal(error.statusCode, '405');
  assert.match(error.message, /nimbus\.toml/);
});
row('storage resumable (TUS) uploads', 'not offered', async () => {
  const response = await fetch(`${base}/storage/v1/upload/resumable`, {
    method: 'POST',
    headers: { apikey, authorization: `Bearer ${apikey}`, 'tus-resumable': '1.0.0' },
  });
  assert.equal(response.status, 404);
});

// ---- database, realtime, functions ----
row('from().select (PostgREST)', 'not offered', async () => {
  const { error } = await client().from('todos').select('*');
  assert.equal(error.code, 'PGRST205');
  assert.match(error.message, /no SQL database/);
});
row('rpc()', 'not offered', async () => {
  const { error } = await client().rpc('add', { a: 1 });
  assert.equal(error.code, 'PGRST202');
});
row('channel().subscribe (realtime)', 'not offered', async () => {
  const supabase = client();
  const status = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('TIMED_OUT'), 8000);
    supabase.channel('room').subscribe((state) => {
      if (state !== 'SUBSCRIBED') {
        clearTimeout(timer);
        resolve(state);
      } else {
        resolve(state);
      }
    });
  });
  await supabase.removeAllChannels();
  supabase.realtime.disconnect();
  assert.notEqual(status, 'SUBSCRIBED');
});
row('functions.invoke', 'works', async () => {
  const { supabase } = await shared();
  const { data, error } = await supabase.functions.invoke('probe', { body: { hello: 'world' } });
  assert.equal(error, null);
  assert.equal(data.path, '/functions/v1/probe');
});

// ---- the README's table and these checks are the same rows ----
const table = readFileSync(readme, 'utf8').split('## Supabase compatibility')[1]?.split('\n## ')[0];
assert.ok(table, 'README.md has a "## Supabase compatibility" section');
const documented = new Map();
for (const line of table.split('\n')) {
  const cells = line.split('|').map((c) => c.trim());
  const name = cells[1]?.match(/^`(.+)`$/)?.[1];
  if (name) documented.set(name, cells[2]);
}
for (const [method, { status }] of checks) {
  assert.equal(documented.get(method), status, `README row for ${method} says ${documented.get(method)}, the check finds ${status}`);
}
for (const method of documented.keys()) {
  assert.ok(checks.has(method), `README row ${method} has no check in client.mjs`);
}

let passed = 0;
for (const [method, { status, check }] of checks) {
  try {
    await check();
    passed += 1;
    console.log(`ok - ${method} (${status})`);
  } catch (error) {
    console.error(`not ok - ${method} (${status})`);
    throw error;
  }
}
console.log(`${passed} rows checked`);
process.exit(0);

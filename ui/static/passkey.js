// Passkeys on the hosted pages, as a progressive enhancement: without this script (or without
// WebAuthn in the browser) the pages work as before with passwords and codes. A form marked
// `data-passkey` is revealed; its button asks the server for options (`data-options`, same
// origin), runs the browser's WebAuthn ceremony and posts the answer with the form. On the
// sign-in page the username field also offers passkeys as autofill (conditional UI).
const form = document.querySelector('form[data-passkey]');

const b64 = {
  decode(s) {
    const std = s.replace(/-/g, '+').replace(/_/g, '/');
    return Uint8Array.from(atob(std + '='.repeat((4 - (std.length % 4)) % 4)), (c) => c.charCodeAt(0)).buffer;
  },
  encode(buf) {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
};

function creationOptions(pk) {
  return {
    ...pk,
    challenge: b64.decode(pk.challenge),
    user: { ...pk.user, id: b64.decode(pk.user.id) },
    excludeCredentials: (pk.excludeCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) })),
  };
}

function requestOptions(pk) {
  return {
    ...pk,
    challenge: b64.decode(pk.challenge),
    allowCredentials: (pk.allowCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) })),
  };
}

function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: b64.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64.encode(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64.encode(r.authenticatorData);
    response.signature = b64.encode(r.signature);
    response.userHandle = r.userHandle ? b64.encode(r.userHandle) : null;
  }
  return JSON.stringify({
    id: cred.id, rawId: b64.encode(cred.rawId), type: cred.type, response,
    extensions: cred.getClientExtensionResults(),
  });
}

async function fetchOptions(conditional) {
  const body = new URLSearchParams();
  for (const name of ['request', 'challenge', 'csrf', 'purpose']) {
    const field = form.elements.namedItem(name);
    if (field) body.set(name, field.value);
  }
  // A username typed before the button limits the sign-in to that account's passkeys (security
  // keys without a discoverable credential need it); autofill is always usernameless.
  const username = document.getElementById('username');
  if (!conditional && username && username.value.trim()) body.set('username', username.value.trim());
  const res = await fetch(form.dataset.options, { method: 'POST', body, credentials: 'same-origin' });
  if (!res.ok) throw new Error(`options: ${res.status}`);
  return res.json();
}

function post(ceremony, cred) {
  form.elements.namedItem('ceremony').value = ceremony;
  form.elements.namedItem('credential').value = credentialJSON(cred);
  form.submit();
}

const status = (text) => { form.querySelector('[role="status"]').textContent = text; };
let pending = null;

async function run(conditional) {
  if (pending) pending.abort();
  const controller = new AbortController();
  pending = controller;
  try {
    const { ceremony, options } = await fetchOptions(conditional);
    let cred;
    if (form.dataset.passkey === 'enrol') {
      cred = await navigator.credentials.create({ publicKey: creationOptions(options.publicKey), signal: controller.signal });
    } else {
      const req = { publicKey: requestOptions(options.publicKey), signal: controller.signal };
      if (conditional) req.mediation = 'conditional';
      cred = await navigator.credentials.get(req);
    }
    if (cred && pending === controller) post(ceremony, cred);
  } catch (e) {
    if (pending === controller && e.name !== 'AbortError') {
      status('The passkey was not used. Try again, or use another way to continue.');
    }
  }
}

if (form && window.PublicKeyCredential && navigator.credentials) {
  form.hidden = false;
  form.querySelector('button').addEventListener('click', () => { status(''); run(false); });
  const conditional = PublicKeyCredential.isConditionalMediationAvailable;
  if (form.dataset.passkey === 'sign-in' && conditional) {
    conditional.call(PublicKeyCredential).then((ok) => { if (ok) run(true); });
  }
}

/** Owns the login form (POST /api/auth/login, the same API every client uses). */
import { ApiError, login } from '../api.js';
import { h, replace, status } from '../dom.js';

export function loginView(main: HTMLElement): void {
  const email = h('input', { id: 'login-email', type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'login-password', type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const msg = h('p', { role: 'alert', class: 'status' });
  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in'),
    h('label', { for: 'login-email' }, 'Email'),
    email,
    h('label', { for: 'login-password' }, 'Password'),
    password,
    h('button', { type: 'submit' }, 'Log in'),
    msg,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status(msg, 'Logging in…');
    try {
      await login(email.value.trim(), password.value);
      window.dispatchEvent(new Event('baygate:login'));
    } catch (err) {
      status(msg, err instanceof ApiError ? err.message : 'The server could not be reached', 'error');
    }
  });
  replace(main, form);
  email.focus();
}

import { api } from './api.js';
import { field, h, message } from './dom.js';

export const title = 'Log in';

export function render(main) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const problem = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Log in');
  const form = h('form', { class: 'card narrow', id: 'login-form' },
    h('h1', {}, 'Log in to bytefreezer'),
    field('Email', email),
    field('Password', password),
    problem,
    submit,
    h('p', { class: 'muted small' }, 'bytefreezer up prints the first admin\'s email and password when it starts.'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    problem.replaceChildren();
    try {
      const who = await api.post('/api/v1/auth/login', { email: email.value.trim(), password: password.value });
      window.dispatchEvent(new CustomEvent('bf-logged-in', { detail: who }));
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
  email.focus();
}

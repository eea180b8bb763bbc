import { api } from './api.js';
import { field, formatTime, h, message, table } from './dom.js';

export const title = 'Audit Log';

/// Top-level fields that differ between before and after, so a change reads at a glance.
function changedFields(before, after) {
  if (!before || !after || typeof before !== 'object' || typeof after !== 'object') return [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

function entryRow(entry) {
  const { before = null, after = null } = entry.diff || {};
  const changed = changedFields(before, after);
  const summary = before === null ? 'created' : after === null ? 'deleted' : changed.length ? `changed: ${changed.join(', ')}` : 'no field changed';
  return h('tr', { 'data-action': entry.action },
    h('td', { title: entry.at }, formatTime(entry.at)),
    h('td', {}, entry.actor),
    h('td', {}, h('code', {}, entry.action)),
    h('td', {}, entry.target),
    h('td', { class: 'wrap' }, h('details', {}, h('summary', {}, summary),
      changed.length ? h('table', { class: 'diff', 'aria-label': 'Changed fields' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Field'), h('th', {}, 'Before'), h('th', {}, 'After'))),
        h('tbody', {}, changed.map((name) => h('tr', {},
          h('td', {}, h('code', {}, name)),
          h('td', {}, h('pre', { class: 'json' }, JSON.stringify(before[name], null, 2) ?? '—')),
          h('td', {}, h('pre', { class: 'json' }, JSON.stringify(after[name], null, 2) ?? '—')))))) : '',
      h('details', { class: 'full' }, h('summary', {}, 'Whole record'),
        h('div', { class: 'side-by-side' },
          h('div', {}, h('h3', {}, 'Before'), h('pre', { class: 'json' }, JSON.stringify(before, null, 2))),
          h('div', {}, h('h3', {}, 'After'), h('pre', { class: 'json' }, JSON.stringify(after, null, 2))))))));
}

export async function render(main) {
  const actor = h('input', { type: 'search', name: 'actor', placeholder: 'email or key:name' });
  const action = h('input', { type: 'search', name: 'action', placeholder: 'e.g. dataset.pause' });
  const target = h('input', { type: 'search', name: 'target', placeholder: 'e.g. dataset/demo/' });
  const since = h('input', { type: 'datetime-local', name: 'since' });
  const body = h('section', { class: 'card' });
  const older = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older');
  const newest = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Newest');
  const filters = h('form', { class: 'filters', role: 'search' },
    field('Who', actor), field('Action', action), field('Target starts with', target), field('Since', since),
    h('button', { type: 'submit' }, 'Filter'));
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Audit Log')), filters, body, h('div', { class: 'pager' }, newest, older));
  let before = null;
  async function refresh() {
    const query = new URLSearchParams({ limit: '50' });
    if (actor.value.trim()) query.set('actor', actor.value.trim());
    if (action.value.trim()) query.set('action', action.value.trim());
    if (target.value.trim()) query.set('target', target.value.trim());
    if (since.value) query.set('since', new Date(since.value).toISOString());
    if (before) query.set('before', before);
    try {
      const page = await api.get(`/api/v1/audit?${query}`);
      body.replaceChildren(table(['When', 'Who', 'Action', 'Target', 'Change'], page.entries.map(entryRow),
        { empty: 'No entries match.', label: 'Audit entries' }));
      older.hidden = !page.next_before;
      older.onclick = () => { before = page.next_before; refresh(); };
      newest.hidden = !before;
    } catch (error) {
      body.replaceChildren(message('error', `Cannot load the audit log: ${error.message}`));
    }
  }
  filters.addEventListener('submit', (event) => { event.preventDefault(); before = null; refresh(); });
  newest.addEventListener('click', () => { before = null; refresh(); });
  await refresh();
  return null;
}

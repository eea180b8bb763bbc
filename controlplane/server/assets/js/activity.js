import { api } from './api.js';
import { field, formatBytes, formatCount, formatDuration, formatTime, h, message, table } from './dom.js';

export const title = 'Activity';

function details(value) {
  if (!value || typeof value !== 'object') return '';
  return Object.entries(value).map(([key, v]) => {
    let text = typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (key.endsWith('_bytes') || key === 'bytes') text = formatBytes(v);
    else if (key.endsWith('_ms')) text = `${formatCount(v)} ms`;
    else if (typeof v === 'number') text = formatCount(v);
    return h('span', { class: 'kv' }, h('span', { class: 'muted' }, key.replaceAll('_', ' ')), ' ', text);
  });
}

function eventRow(event) {
  return h('tr', { 'data-stage': event.stage, 'data-outcome': event.outcome },
    h('td', { title: event.at }, formatTime(event.at)),
    h('td', {}, event.stage),
    h('td', {}, `${event.tenant_id} / ${event.dataset_id}`),
    h('td', {}, h('span', { class: `badge ${event.outcome === 'ok' ? 'healthy' : 'unhealthy'}` }, event.outcome === 'ok' ? 'OK' : 'Error')),
    h('td', { class: 'wrap' }, event.message),
    h('td', { class: 'wrap' }, details(event.details)));
}

function partitionRow(open) {
  const share = open.flush_at_bytes ? Math.min(100, (100 * open.bytes) / open.flush_at_bytes) : 0;
  return h('tr', {},
    h('td', {}, `${open.tenant_id} / ${open.dataset_id}`),
    h('td', {}, h('code', {}, open.partition)),
    h('td', { class: 'num' }, formatCount(open.objects)),
    h('td', {}, h('meter', { min: 0, max: 100, value: share.toFixed(1), title: `${share.toFixed(1)} % of ${formatBytes(open.flush_at_bytes)}` }),
      ' ', `${formatBytes(open.bytes)} of ${formatBytes(open.flush_at_bytes)}`),
    h('td', {}, formatDuration(open.age_secs)),
    h('td', {}, formatDuration(open.flush_in_secs)));
}

export async function render(main) {
  const stage = h('select', {}, [['', 'All stages'], ['piper', 'piper'], ['packer', 'packer']].map(([v, l]) => h('option', { value: v }, l)));
  const outcome = h('select', {}, [['', 'All outcomes'], ['ok', 'OK'], ['error', 'Errors and retries']].map(([v, l]) => h('option', { value: v }, l)));
  const dataset = h('select', {}, h('option', { value: '' }, 'All datasets'));
  const partitions = h('div', {});
  const events = h('div', {});
  const older = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older');
  const newest = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Newest');
  let before = null;
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Activity'),
      h('div', { class: 'filters' }, field('Dataset', dataset), field('Stage', stage), field('Outcome', outcome))),
    h('section', { class: 'card' }, h('h2', {}, 'Open packer partitions'), partitions),
    h('section', { class: 'card' }, h('h2', {}, 'Jobs'), events, h('div', { class: 'pager' }, newest, older)));
  try {
    for (const d of await api.get('/api/v1/datasets')) {
      dataset.append(h('option', { value: `${d.tenant_id}/${d.dataset_id}` }, `${d.tenant_id} / ${d.dataset_id}`));
    }
  } catch (_) { /* the filter stays at "all" */ }
  async function refresh() {
    const query = new URLSearchParams({ limit: '50' });
    if (stage.value) query.set('stage', stage.value);
    if (outcome.value) query.set('outcome', outcome.value);
    if (dataset.value) {
      const [tenant, id] = dataset.value.split('/');
      query.set('tenant', tenant);
      query.set('dataset', id);
    }
    if (before) query.set('before', before);
    try {
      const page = await api.get(`/api/v1/activity?${query}`);
      partitions.replaceChildren(table(['Dataset', 'Partition', 'Objects waiting', 'Accumulated', 'Oldest', 'Flushes in'],
        page.open_partitions.map(partitionRow), { empty: 'No partition is accumulating: everything received is in Parquet.', label: 'Open partitions' }));
      events.replaceChildren(table(['Time', 'Stage', 'Dataset', 'Outcome', 'Message', 'Details'],
        page.events.map(eventRow), { empty: 'No jobs match.', label: 'Jobs' }));
      older.hidden = !page.next_before;
      older.onclick = () => { before = page.next_before; refresh(); };
      newest.hidden = !before;
    } catch (error) {
      events.replaceChildren(message('error', `Cannot load activity: ${error.message}`));
    }
  }
  newest.addEventListener('click', () => { before = null; refresh(); });
  for (const control of [stage, outcome, dataset]) control.addEventListener('change', () => { before = null; refresh(); });
  await refresh();
  const timer = setInterval(() => { if (!before) refresh(); }, 5000);
  return () => clearInterval(timer);
}

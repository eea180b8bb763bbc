import { api, datasetPath } from './api.js';
import { canWrite, field, h, message, table } from './dom.js';
import { settingsForm } from './settings-form.js';

export const title = 'Datasets';

/**
 * Where senders send, as the proxy reports it: `udp://0.0.0.0:5514`, `tls://0.0.0.0:6514`,
 * `http://0.0.0.0:8080/events`; what a `nats` input reads: `nats://host:4222/logs.>` or
 * `nats://host:4222/STREAM/consumer` (never a password the URL holds); what a `kafka` input
 * reads: `kafka://first-broker/topic,topic`.
 */
export function listenOf(source) {
  const settings = source.settings || {};
  if (source.plugin === 'sqs') {
    return settings.queue_url ?? '';
  }
  if (source.plugin === 'kafka') {
    const broker = (settings.brokers ?? '').split(',')[0].trim();
    return `kafka://${broker}/${(settings.topics ?? []).join(',')}`;
  }
  if (source.plugin === 'nats') {
    const server = (settings.url ?? '').split(',')[0].trim().replace(/:\/\/.*@/, '://');
    const what = settings.mode === 'jetstream' && settings.stream && settings.consumer
      ? `${settings.stream}/${settings.consumer}`
      : (settings.subjects ?? []).join(',');
    return `${server}/${what}`;
  }
  if (source.plugin === 'http') {
    const scheme = settings.tls_cert_file ? 'https' : 'http';
    return `${scheme}://${settings.bind ?? ''}${settings.path ?? '/'}`;
  }
  const scheme = source.plugin === 'syslog' ? (settings.transport ?? 'udp') : 'udp';
  return `${scheme}://${settings.bind ?? ''}`;
}

export function statusBadge(record) {
  return record.active
    ? h('span', { class: 'badge healthy' }, 'Active')
    : h('span', { class: 'badge starting' }, 'Paused');
}

export async function pauseOrResume(record) {
  const verb = record.active ? 'pause' : 'resume';
  return api.post(`${datasetPath(record.tenant_id, record.dataset_id)}/${verb}`);
}

function listRow(record, refresh, problem, writable) {
  const toggle = h('button', { type: 'button', class: 'secondary small' }, record.active ? 'Pause' : 'Resume');
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      await pauseOrResume(record);
      await refresh();
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
      toggle.disabled = false;
    }
  });
  return h('tr', { 'data-dataset': `${record.tenant_id}/${record.dataset_id}` },
    h('td', {}, h('a', { href: `#/datasets/${record.tenant_id}/${record.dataset_id}` }, `${record.tenant_id} / ${record.dataset_id}`)),
    h('td', {}, record.name),
    h('td', {}, record.source.plugin),
    h('td', {}, h('code', {}, listenOf(record.source))),
    h('td', {}, statusBadge(record), record.testing ? h('span', { class: 'badge info' }, 'Testing') : ''),
    h('td', {}, record.assigned_proxy ? h('code', {}, record.assigned_proxy) : h('span', { class: 'muted' }, 'every proxy')),
    h('td', {}, writable ? toggle : ''));
}

async function createForm(main, session) {
  const [tenants, catalog] = await Promise.all([api.get('/api/v1/tenants'), api.get('/api/v1/plugins')]);
  const tenant = h('select', { name: 'tenant', required: true },
    tenants.map((t) => h('option', { value: t.id }, `${t.name} (${t.id})`)),
    h('option', { value: '' }, 'New tenant…'));
  const newTenant = h('input', { type: 'text', name: 'new_tenant', placeholder: 'tenant id, e.g. acme', pattern: '[a-z0-9_-]+' });
  const newTenantField = field('New tenant id', newTenant, 'Lowercase letters, digits, - and _; part of every object path.');
  newTenantField.hidden = tenants.length > 0;
  tenant.addEventListener('change', () => { newTenantField.hidden = tenant.value !== ''; });
  const datasetId = h('input', { type: 'text', name: 'dataset_id', required: true, pattern: '[a-z0-9_-]+', placeholder: 'e.g. fw-logs' });
  const name = h('input', { type: 'text', name: 'name', placeholder: 'Firewall logs' });
  const plugin = h('select', { name: 'plugin' }, catalog.plugins.map((p) => h('option', { value: p.plugin }, `${p.plugin} — ${p.summary}`)));
  const testing = h('input', { type: 'checkbox', name: 'testing', checked: true });
  const settingsHolder = h('fieldset', {}, h('legend', {}, 'Source settings'));
  let settings = null;
  function showSettings() {
    const chosen = catalog.plugins.find((p) => p.plugin === plugin.value);
    settings = settingsForm(chosen.settings_schema);
    settingsHolder.replaceChildren(h('legend', {}, `Source settings (${chosen.plugin})`), settings.element);
  }
  plugin.addEventListener('change', showSettings);
  showSettings();
  const problem = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Create dataset');
  const form = h('form', { class: 'card', id: 'create-dataset' },
    h('h2', {}, 'New dataset'),
    h('div', { class: 'grid2' },
      field('Tenant', tenant), newTenantField,
      field('Dataset id', datasetId, 'Lowercase letters, digits, - and _.'), field('Name', name),
      field('Source plugin', plugin)),
    settingsHolder,
    h('div', { class: 'field check' }, h('label', {}, testing, ' Testing mode'),
      h('small', { class: 'hint' }, 'Packer writes a Parquet file every cycle instead of accumulating large files.')),
    problem,
    h('div', { class: 'actions' }, submit, h('a', { href: '#/datasets', class: 'button secondary' }, 'Cancel')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.replaceChildren();
    submit.disabled = true;
    try {
      let tenantId = tenant.value;
      if (!tenantId) {
        tenantId = newTenant.value.trim();
        await api.post('/api/v1/tenants', { tenant_id: tenantId, name: tenantId, account_id: session.account_id || undefined });
      }
      const body = {
        dataset_id: datasetId.value.trim(),
        name: name.value.trim(),
        source: { plugin: plugin.value, settings: settings.read() },
        testing: testing.checked,
      };
      await api.post(`/api/v1/tenants/${encodeURIComponent(tenantId)}/datasets`, body);
      location.hash = `#/datasets/${tenantId}/${body.dataset_id}`;
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
  datasetId.focus();
}

export async function render(main, params, session) {
  if (params.create) {
    main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Create a dataset')));
    await createForm(main, session);
    return null;
  }
  const problem = h('div', { 'aria-live': 'polite' });
  const body = h('section', { class: 'card' });
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Datasets'),
      canWrite(session) ? h('a', { href: '#/datasets/new', class: 'button', id: 'new-dataset' }, 'Create dataset') : ''),
    problem, body);
  async function refresh() {
    try {
      const records = await api.get('/api/v1/datasets');
      body.replaceChildren(table(['Dataset', 'Name', 'Plugin', 'Listens on', 'Status', 'Proxy', ''],
        records.map((r) => listRow(r, refresh, problem, canWrite(session))),
        { empty: 'No datasets yet.', label: 'Datasets' }));
    } catch (error) {
      body.replaceChildren(message('error', `Cannot load datasets: ${error.message}`));
    }
  }
  await refresh();
  const timer = setInterval(refresh, 10000);
  return () => clearInterval(timer);
}

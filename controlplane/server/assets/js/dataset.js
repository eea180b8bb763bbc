import { api, datasetPath } from './api.js';
import { ago, canWrite, field, formatBytes, formatCount, h, message, table } from './dom.js';
import { dataside, keyPrompt, storedKey } from './dataside.js';
import { listenOf, pauseOrResume, statusBadge } from './datasets.js';
import { pipelineTab } from './pipeline.js';
import { settingsForm } from './settings-form.js';

export const title = 'Dataset';

const TABS = [['overview', 'Overview'], ['source', 'Source'], ['destination', 'Destination'], ['pipeline', 'Pipeline']];

function checkResult(result) {
  return h('div', { class: 'check-result' },
    h('span', { class: `badge ${result.ok ? 'healthy' : 'unhealthy'}` }, result.ok ? 'Pass' : 'Fail'),
    h('ul', {}, result.checks.map((check) => h('li', {},
      h('span', { class: check.ok ? 'ok-text' : 'bad-text' }, check.ok ? '✓ ' : '✗ '), check.message))));
}

function checkButton(label, path, id) {
  const output = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'secondary', id }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    output.replaceChildren(h('span', { class: 'muted' }, 'Checking…'));
    try {
      output.replaceChildren(checkResult(await api.get(path)));
    } catch (error) {
      output.replaceChildren(message('error', error.message));
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'check' }, button, output);
}

function filesSection(record, session) {
  const holder = h('div', {});
  async function load() {
    if (!storedKey(record.tenant_id)) {
      holder.replaceChildren(keyPrompt(record.tenant_id, session, load));
      return;
    }
    try {
      const listing = await dataside('GET', `/api/v1/query/${encodeURIComponent(record.tenant_id)}/${encodeURIComponent(record.dataset_id)}/files`, record.tenant_id);
      holder.replaceChildren(
        h('p', { class: 'muted small' }, `${formatCount(listing.total_files)} files, ${formatBytes(listing.total_bytes)} in ${listing.location}` +
          (listing.files.length < listing.total_files ? ` (newest ${listing.files.length} shown)` : '')),
        table(['File', 'Partition', 'Rows', 'Size', 'Written'], listing.files.map((file) => h('tr', {},
          h('td', { class: 'wrap' }, h('code', {}, file.name)),
          h('td', {}, h('code', {}, file.partition)),
          h('td', { class: 'num' }, file.rows === null ? '?' : formatCount(file.rows)),
          h('td', { class: 'num' }, formatBytes(file.bytes)),
          h('td', { title: file.last_modified }, ago(file.last_modified)))),
        { empty: 'No Parquet file yet. In testing mode packer writes one within seconds of data arriving.', label: 'Parquet files' }));
    } catch (error) {
      holder.replaceChildren(message('error', `Cannot list Parquet files: ${error.message}`));
    }
  }
  load();
  const reload = h('button', { type: 'button', class: 'secondary small', id: 'reload-files' }, 'Refresh');
  reload.addEventListener('click', load);
  return h('section', { class: 'card' }, h('div', { class: 'section-head' }, h('h2', {}, 'Parquet files'), reload), holder);
}

function overview(record, session, reload) {
  const path = datasetPath(record.tenant_id, record.dataset_id);
  const toggle = h('button', { type: 'button', id: 'pause-resume' }, record.active ? 'Pause dataset' : 'Resume dataset');
  const problem = h('div', { 'aria-live': 'polite' });
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      await pauseOrResume(record);
      await reload();
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
      toggle.disabled = false;
    }
  });
  const facts = [
    ['Status', [statusBadge(record), record.testing ? h('span', { class: 'badge info' }, 'Testing mode') : '']],
    ['Source', `${record.source.plugin} on ${listenOf(record.source)}`],
    ['Proxy', record.assigned_proxy || 'every proxy of the account'],
    ['Destination', `${record.destination?.bucket || 'packer bucket'} / ${record.destination?.prefix ? `${record.destination.prefix}/` : ''}${record.tenant_id}/${record.dataset_id}/data/parquet/`],
    ['Pipeline', `${record.pipeline.filters.length} filter${record.pipeline.filters.length === 1 ? '' : 's'}`],
  ];
  return [
    h('section', { class: 'card' },
      h('dl', { class: 'facts' }, facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])),
      problem,
      h('div', { class: 'actions' }, canWrite(session) ? toggle : '', h('a', { class: 'button secondary', href: '#/statistics' }, 'Statistics'))),
    h('section', { class: 'card' }, h('h2', {}, 'Checks'),
      h('div', { class: 'grid2' },
        h('div', {}, h('h3', {}, 'Test input'), h('p', { class: 'muted small' }, 'Is a proxy listening for this dataset, and has data arrived recently?'),
          checkButton('Test input', `${path}/checks/input`, 'test-input')),
        h('div', {}, h('h3', {}, 'Test output'), h('p', { class: 'muted small' }, 'Can the data side write to the destination?'),
          checkButton('Test output', `${path}/checks/output`, 'test-output')))),
    filesSection(record, session),
  ];
}

async function sourceTab(record, reload) {
  const catalog = await api.get('/api/v1/plugins');
  const plugin = h('select', { name: 'plugin' }, catalog.plugins.map((p) =>
    h('option', { value: p.plugin, selected: p.plugin === record.source.plugin }, `${p.plugin} — ${p.summary}`)));
  const name = h('input', { type: 'text', name: 'name', value: record.name });
  const testing = h('input', { type: 'checkbox', name: 'testing', checked: record.testing });
  const holder = h('fieldset', {});
  let settings = null;
  function showSettings() {
    const chosen = catalog.plugins.find((p) => p.plugin === plugin.value);
    settings = settingsForm(chosen.settings_schema, chosen.plugin === record.source.plugin ? record.source.settings : {});
    holder.replaceChildren(h('legend', {}, `Settings of ${chosen.plugin}`), settings.element);
  }
  plugin.addEventListener('change', showSettings);
  showSettings();
  return saveForm('source-form', [field('Name', name), field('Source plugin', plugin), holder,
    h('div', { class: 'field check' }, h('label', {}, testing, ' Testing mode'))], async () => ({
    ...record, name: name.value.trim(), testing: testing.checked,
    source: { plugin: plugin.value, settings: settings.read() },
  }), record, reload);
}

function destinationTab(record, reload) {
  const bucket = h('input', { type: 'text', name: 'bucket', value: record.destination?.bucket || '', placeholder: 'packer bucket' });
  const prefix = h('input', { type: 'text', name: 'prefix', value: record.destination?.prefix || '', placeholder: 'none' });
  const maxBytes = h('input', { type: 'number', name: 'max_file_bytes', min: 1048576, value: record.packer?.max_file_bytes ?? '', placeholder: 'packer default (128 MiB)' });
  const maxAge = h('input', { type: 'number', name: 'max_age_secs', min: 1, max: 86400, value: record.packer?.max_age_secs ?? '', placeholder: 'packer default (1200 s)' });
  const optional = (value) => (value.trim() ? value.trim() : undefined);
  return saveForm('destination-form', [
    h('div', { class: 'grid2' },
      field('Bucket', bucket, 'A name from [packer.destinations] in packer\'s config; empty: the packer bucket.'),
      field('Key prefix', prefix, 'Put before tenant/dataset/data/parquet/…; empty: none.'),
      field('Close files at (bytes)', maxBytes, 'Empty: packer\'s max_file_bytes.'),
      field('Close files after (seconds)', maxAge, 'Empty: packer\'s max_age_secs.')),
  ], async () => ({
    ...record,
    destination: { bucket: optional(bucket.value), prefix: optional(prefix.value) },
    packer: {
      max_file_bytes: maxBytes.value ? Number(maxBytes.value) : undefined,
      max_age_secs: maxAge.value ? Number(maxAge.value) : undefined,
    },
  }), record, reload);
}

function saveForm(id, fields, build, record, reload) {
  const problem = h('div', { 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Save');
  const form = h('form', { class: 'card', id }, fields, problem, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    problem.replaceChildren();
    try {
      const next = await build();
      delete next.assigned_proxy;
      delete next.tenant_id;
      await api.put(datasetPath(record.tenant_id, record.dataset_id), next);
      problem.replaceChildren(message('info', 'Saved. Services pick the change up within seconds.'));
      await reload(false);
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function render(main, params, session) {
  const path = datasetPath(params.tenant, params.dataset);
  const head = h('div', { class: 'page-head' });
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Dataset sections' });
  const body = h('div', {});
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/datasets' }, 'Datasets'), ' / ', `${params.tenant} / ${params.dataset}`), head, tabs, body);
  async function reload(redraw = true) {
    const record = await api.get(path);
    head.replaceChildren(h('h1', {}, record.name || record.dataset_id), statusBadge(record));
    tabs.replaceChildren(...TABS.map(([tab, label]) => h('a', {
      href: `#/datasets/${params.tenant}/${params.dataset}/${tab}`,
      'aria-current': tab === params.tab ? 'page' : undefined,
    }, label)));
    if (!redraw) return;
    body.replaceChildren();
    if (params.tab === 'source') body.append(await sourceTab(record, reload));
    else if (params.tab === 'destination') body.append(destinationTab(record, reload));
    else if (params.tab === 'pipeline') body.append(await pipelineTab(record));
    else body.append(...overview(record, session, reload));
  }
  try {
    await reload();
  } catch (error) {
    body.replaceChildren(message('error', error.message));
  }
  return null;
}

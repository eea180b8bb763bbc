import { api } from './api.js';
import { dataside } from './dataside.js';
import { field, formatCount, h, message, table } from './dom.js';

export const title = 'Query';

function csvCell(value) {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csv(answer) {
  const names = answer.columns.map((c) => c.name);
  const lines = [names.map(csvCell).join(',')];
  for (const row of answer.rows) lines.push(names.map((n) => csvCell(row[n])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function cell(value) {
  if (value === null || value === undefined) return h('span', { class: 'muted' }, 'null');
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

export async function render(main) {
  const datasets = await api.get('/api/v1/datasets');
  const choice = h('select', { id: 'query-dataset' }, datasets.map((d) =>
    h('option', { value: `${d.tenant_id}/${d.dataset_id}` }, `${d.tenant_id} / ${d.dataset_id}`)));
  const columns = h('div', { id: 'query-columns' });
  const sql = h('textarea', { id: 'query-sql', rows: 6, spellcheck: 'false' });
  const run = h('button', { type: 'submit', id: 'run-query' }, 'Run');
  const explain = h('input', { type: 'checkbox', id: 'query-explain' });
  const output = h('div', { id: 'query-output', 'aria-live': 'polite' });
  const form = h('form', { class: 'card' },
    h('div', { class: 'grid2' }, field('Dataset', choice), h('div', {}, h('h3', {}, 'Columns'), columns)),
    field('SQL', sql, 'The table is named after the dataset. year, month, day and hour are partition columns: filtering on them skips whole folders.'),
    h('div', { class: 'actions' }, run, h('label', {}, explain, ' Show plan'), h('span', { class: 'muted small' }, 'Ctrl+Enter runs')));
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Query')), form, output);
  if (!datasets.length) {
    form.replaceChildren(message('info', 'No datasets yet.'));
    return null;
  }
  const selected = () => {
    const [tenant, dataset] = choice.value.split('/');
    return { tenant, dataset };
  };
  async function loadColumns() {
    const { tenant, dataset } = selected();
    if (!sql.value.trim() || sql.dataset.generated === 'true') {
      sql.value = `SELECT *\nFROM "${dataset}"\nLIMIT 100`;
      sql.dataset.generated = 'true';
    }
    try {
      const answer = await dataside('GET', `/api/v1/query/${encodeURIComponent(tenant)}/${encodeURIComponent(dataset)}/columns`, tenant);
      columns.replaceChildren(h('ul', { class: 'columns' }, answer.columns.map((c) =>
        h('li', {}, h('code', {}, c.name), ' ', h('span', { class: 'muted small' }, c.partition ? 'partition' : c.data_type)))));
    } catch (error) {
      columns.replaceChildren(message('error', error.message));
    }
  }
  sql.addEventListener('input', () => { sql.dataset.generated = 'false'; });
  choice.addEventListener('change', loadColumns);
  sql.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const { tenant, dataset } = selected();
    run.disabled = true;
    output.replaceChildren(h('p', { class: 'muted' }, 'Running…'));
    const started = performance.now();
    try {
      const answer = await dataside('POST', '/api/v1/query', tenant, { tenant_id: tenant, dataset_id: dataset, sql: sql.value, explain: explain.checked });
      const names = answer.columns.map((c) => c.name);
      const download = h('a', { class: 'button secondary small', id: 'download-csv', download: `${dataset}.csv`,
        href: URL.createObjectURL(new Blob([csv(answer)], { type: 'text/csv' })) }, 'Download CSV');
      output.replaceChildren(h('section', { class: 'card' },
        h('div', { class: 'section-head' },
          h('p', { id: 'query-summary' }, `${formatCount(answer.row_count)} row${answer.row_count === 1 ? '' : 's'} in ${formatCount(answer.elapsed_ms)} ms`,
            answer.truncated ? ' (truncated at the row limit)' : '',
            h('span', { class: 'muted small' }, ` · ${Math.round(performance.now() - started)} ms in the browser`)),
          download),
        table(names, answer.rows.map((row) => h('tr', {}, names.map((n) => h('td', {}, cell(row[n]))))),
          { empty: 'No rows.', label: 'Query result' }),
        answer.plan ? h('details', {}, h('summary', {}, 'Plan'), h('pre', { class: 'json' }, answer.plan)) : ''));
    } catch (error) {
      output.replaceChildren(message('error', error.message));
    } finally {
      run.disabled = false;
    }
  });
  await loadColumns();
  return null;
}

// The Pipeline tab: the transformation JSON with inline validation, and Test Transformation
// (sample events in, output side by side) before anything is saved.

import { api, datasetPath } from './api.js';
import { dataside, storedKey } from './dataside.js';
import { h, message } from './dom.js';

const EXAMPLE_EVENTS = [
  { hostname: 'fw-1', app_name: 'filterlog', severity: 4, message: 'action=deny src=10.0.0.7 dst=192.0.2.10 port=22', action: 'deny', src: '10.0.0.7' },
  { hostname: 'fw-1', app_name: 'filterlog', severity: 6, message: 'action=allow src=10.0.0.8 dst=192.0.2.11 port=443', action: 'allow', src: '10.0.0.8' },
];

/// Line and column of a JSON.parse error, where the engine says where.
function parseProblem(text, error) {
  const at = /position (\d+)/.exec(error.message);
  if (!at) return error.message;
  const before = text.slice(0, Number(at[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${error.message.replace(/ in JSON at position \d+.*/, '')} at line ${line}, column ${column}`;
}

function parseEvents(text) {
  const trimmed = text.trim();
  if (!trimmed) return [];
  if (trimmed.startsWith('[')) return JSON.parse(trimmed);
  return trimmed.split('\n').filter((line) => line.trim()).map((line, index) => {
    try {
      return JSON.parse(line);
    } catch (error) {
      throw new Error(`sample line ${index + 1}: ${error.message}`);
    }
  });
}

function jsonBlock(value, id) {
  return h('pre', { class: 'json', id }, JSON.stringify(value, null, 2));
}

export async function pipelineTab(record) {
  const path = `${datasetPath(record.tenant_id, record.dataset_id)}/pipeline`;
  const [document, catalog] = await Promise.all([api.get(path), api.get('/api/v1/transform/filters')]);
  const editor = h('textarea', { id: 'pipeline-json', spellcheck: 'false', rows: 16, 'aria-describedby': 'pipeline-problem' },
    JSON.stringify(document.pipeline, null, 2));
  const problem = h('div', { id: 'pipeline-problem', 'aria-live': 'polite' });
  const samples = h('textarea', { id: 'sample-events', spellcheck: 'false', rows: 8, placeholder: 'One JSON object per line, or a JSON array' },
    EXAMPLE_EVENTS.map((e) => JSON.stringify(e)).join('\n'));
  const results = h('div', { id: 'test-results', 'aria-live': 'polite' });
  const version = h('span', { class: 'muted small' }, `version ${document.version}`);

  function readPipeline() {
    try {
      return JSON.parse(editor.value);
    } catch (error) {
      throw new Error(`pipeline JSON: ${parseProblem(editor.value, error)}`);
    }
  }
  function checkSyntax() {
    try {
      readPipeline();
      editor.removeAttribute('aria-invalid');
      problem.replaceChildren();
    } catch (error) {
      editor.setAttribute('aria-invalid', 'true');
      problem.replaceChildren(message('error', error.message));
    }
  }
  editor.addEventListener('input', checkSyntax);

  const test = h('button', { type: 'button', id: 'test-transformation' }, 'Test Transformation');
  test.addEventListener('click', async () => {
    results.replaceChildren(h('span', { class: 'muted' }, 'Running…'));
    try {
      const events = parseEvents(samples.value);
      const report = await api.post('/api/v1/transform/test', { pipeline: readPipeline(), events });
      results.replaceChildren(
        h('p', {}, `${report.rows_in} in → ${report.rows_out} out`, ' · ',
          report.filters.map((f) => h('span', { class: 'kv' },
            `#${f.index + 1} ${f.type}: ${f.rows_in}→${f.rows_out}`,
            f.fields_added.length ? ` +${f.fields_added.join(', +')}` : '',
            f.fields_removed.length ? ` −${f.fields_removed.join(', −')}` : ''))),
        report.error ? message('error', report.error) : '',
        h('div', { class: 'side-by-side' },
          h('div', {}, h('h3', {}, 'Input'), jsonBlock(events, 'test-input-events')),
          h('div', {}, h('h3', {}, 'Output'), jsonBlock(report.output, 'test-output-events'))));
    } catch (error) {
      results.replaceChildren(message('error', error.message));
    }
  });

  const save = h('button', { type: 'button', class: 'secondary', id: 'save-pipeline' }, 'Save pipeline');
  save.addEventListener('click', async () => {
    save.disabled = true;
    try {
      const saved = await api.put(path, readPipeline());
      version.textContent = `version ${saved.version}`;
      problem.replaceChildren(message('info', `Saved version ${saved.version}; piper uses it within seconds.`));
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
    } finally {
      save.disabled = false;
    }
  });

  const recent = h('button', { type: 'button', class: 'secondary small', disabled: !storedKey(record.tenant_id),
    title: storedKey(record.tenant_id) ? undefined : 'Needs a query key: open the Parquet files on the Overview tab first' }, 'Load 5 events from Parquet');
  recent.addEventListener('click', async () => {
    try {
      const answer = await dataside('POST', '/api/v1/query', record.tenant_id, {
        tenant_id: record.tenant_id, dataset_id: record.dataset_id,
        sql: `SELECT * EXCEPT (year, month, day, hour) FROM "${record.dataset_id}" LIMIT 5`,
      });
      samples.value = answer.rows.map((row) => JSON.stringify(row)).join('\n');
    } catch (error) {
      results.replaceChildren(message('error', `Cannot load recent events: ${error.message}`));
    }
  });

  const insertFilter = h('select', { 'aria-label': 'Insert a filter example' },
    h('option', { value: '' }, 'Insert a filter…'),
    catalog.filters.map((f) => h('option', { value: f.type, title: f.summary }, `${f.type} — ${f.summary}`)));
  insertFilter.addEventListener('change', () => {
    const chosen = catalog.filters.find((f) => f.type === insertFilter.value);
    insertFilter.value = '';
    if (!chosen) return;
    try {
      const pipeline = readPipeline();
      pipeline.filters = [...(pipeline.filters || []), { type: chosen.type, config: chosen.example }];
      editor.value = JSON.stringify(pipeline, null, 2);
      checkSyntax();
    } catch (error) {
      problem.replaceChildren(message('error', error.message));
    }
  });

  return h('div', { class: 'pipeline' },
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Transformations'), version),
      h('label', { for: 'pipeline-json' }, 'Pipeline JSON'),
      editor, problem,
      h('div', { class: 'actions' }, insertFilter, save)),
    h('section', { class: 'card' },
      h('div', { class: 'section-head' }, h('h2', {}, 'Test Transformation'), recent),
      h('label', { for: 'sample-events' }, 'Sample events'),
      samples,
      h('div', { class: 'actions' }, test),
      results));
}

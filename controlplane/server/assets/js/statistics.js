import { api, datasetPath } from './api.js';
import { lineChart } from './chart.js';
import { field, formatBytes, formatCount, h, message } from './dom.js';

export const title = 'Statistics';

const TILES = [
  ['events_received', 'Events received', 'proxy', formatCount],
  ['events_dropped', 'Events dropped', 'proxy', formatCount],
  ['records_processed', 'Piper processed', 'piper', formatCount],
  ['records_dropped', 'Piper dropped', 'piper', formatCount],
  ['parquet_files', 'Parquet files', 'packer', formatCount],
  ['parquet_rows', 'Parquet rows', 'packer', formatCount],
  ['parquet_bytes', 'Parquet size', 'packer', formatBytes],
];

function seriesOf(points, metric, name, cssClass) {
  const values = new Map();
  for (const point of points) {
    if (point.metric === metric) values.set(new Date(point.minute).getTime(), point.value);
  }
  return { name, cssClass, points: values };
}

function datasetCard(statistics, minutes) {
  const { totals, stages, series } = statistics;
  const tiles = TILES.map(([metric, label, stage, format]) => {
    const installed = stages[stage] !== 'not_installed';
    return h('div', { class: `tile${installed ? '' : ' not-installed'}`, 'data-metric': metric },
      h('b', {}, installed ? format(totals[metric]) : 'Not Installed'),
      h('span', {}, label));
  });
  return h('section', { class: 'card', 'data-dataset': `${statistics.tenant_id}/${statistics.dataset_id}` },
    h('h2', {}, h('a', { href: `#/datasets/${statistics.tenant_id}/${statistics.dataset_id}` },
      `${statistics.tenant_id} / ${statistics.dataset_id}`)),
    h('div', { class: 'tiles' }, tiles),
    h('div', { class: 'charts' },
      lineChart('Events per minute', [
        seriesOf(series, 'events_received', 'received', 's1'),
        seriesOf(series, 'records_processed', 'processed', 's2'),
        seriesOf(series, 'parquet_rows', 'in Parquet', 's3'),
      ], minutes),
      lineChart('Dropped per minute', [
        seriesOf(series, 'events_dropped', 'proxy', 's4'),
        seriesOf(series, 'records_dropped', 'piper', 's5'),
      ], minutes),
      lineChart('Parquet bytes per minute', [seriesOf(series, 'parquet_bytes', 'written', 's3')], minutes, formatBytes)));
}

export async function render(main) {
  const windowChoice = h('select', {},
    [[60, 'Last hour'], [360, 'Last 6 hours'], [1440, 'Last 24 hours']].map(([value, label]) =>
      h('option', { value }, label)));
  const datasetChoice = h('select', {}, h('option', { value: '' }, 'All datasets'));
  const body = h('div', {});
  main.append(
    h('div', { class: 'page-head' }, h('h1', {}, 'Statistics'),
      h('div', { class: 'filters' }, field('Dataset', datasetChoice), field('Window', windowChoice))),
    body);
  let loaded = false;
  async function refresh() {
    try {
      const overview = await api.get('/api/v1/statistics');
      if (!loaded) {
        for (const d of overview.datasets) {
          datasetChoice.append(h('option', { value: `${d.tenant_id}/${d.dataset_id}` }, `${d.tenant_id} / ${d.dataset_id}`));
        }
        loaded = true;
      }
      const minutes = Number(windowChoice.value);
      const busiest = (d) => -(d.totals.events_received || 0) - (d.totals.parquet_rows || 0);
      const chosen = [...overview.datasets]
        .sort((a, b) => busiest(a) - busiest(b))
        .filter((d) => !datasetChoice.value || `${d.tenant_id}/${d.dataset_id}` === datasetChoice.value)
        .slice(0, 20);
      const cards = await Promise.all(chosen.map(async (d) =>
        datasetCard(await api.get(`${datasetPath(d.tenant_id, d.dataset_id)}/statistics?minutes=${minutes}`), minutes)));
      const notInstalled = Object.entries(overview.stages).filter(([, state]) => state === 'not_installed').map(([stage]) => stage);
      body.replaceChildren(
        notInstalled.length ? message('info', `Not installed in this account: ${notInstalled.join(', ')}. Their numbers show as "Not Installed".`) : '',
        ...(cards.length ? cards : [message('info', 'No datasets yet. Create one on the Datasets page.')]));
    } catch (error) {
      body.replaceChildren(message('error', `Cannot load statistics: ${error.message}`));
    }
  }
  windowChoice.addEventListener('change', refresh);
  datasetChoice.addEventListener('change', refresh);
  await refresh();
  const timer = setInterval(refresh, 10000);
  return () => clearInterval(timer);
}

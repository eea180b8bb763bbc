import { api } from './api.js';
import { ago, formatBytes, formatDuration, h, healthBadge, message, table } from './dom.js';

export const title = 'Service Status';

const ROLE_ORDER = ['control', 'proxy', 'receiver', 'piper', 'packer', 'query'];

function summary(services) {
  const counts = {};
  for (const service of services) counts[service.health] = (counts[service.health] || 0) + 1;
  return h('div', { class: 'tiles' },
    ['Healthy', 'Degraded', 'Starting', 'Unhealthy'].map((health) =>
      h('div', { class: `tile ${health.toLowerCase()}` },
        h('b', {}, String(counts[health] || 0)),
        h('span', {}, health))));
}

// Roles of one process (`bytefreezer up`) report that process's CPU and memory; show them once.
function processKey(service) {
  const shared = service.shares_process_with || [];
  return shared.length > 1 ? `${service.host}|${shared.join(',')}` : null;
}

function sharedProcessNotes(services) {
  const seen = new Map();
  for (const service of services) {
    const key = processKey(service);
    if (key && !seen.has(key)) seen.set(key, service);
  }
  return [...seen.values()].map((service) => h('p', { class: 'muted small', 'data-shared-process': service.host },
    `${service.shares_process_with.join(', ')} run in one process on ${service.host}: `
    + 'CPU and memory are that process\'s, shown once on its first row.'));
}

function row(service, shownProcesses) {
  const disk = service.disk_total_bytes
    ? `${formatBytes(service.disk_free_bytes)} free of ${formatBytes(service.disk_total_bytes)}`
    : '';
  const key = processKey(service);
  const repeated = key !== null && shownProcesses.has(key);
  if (key) shownProcesses.add(key);
  const sameProcess = () => h('td', { class: 'num muted', title: 'shared with the roles above' }, 'same process');
  return h('tr', { 'data-instance': service.instance_id, 'data-role': service.role },
    h('td', {}, healthBadge(service.health, service.reason)),
    h('td', {}, service.role),
    h('td', { class: 'id' }, h('code', {}, service.instance_id)),
    h('td', {}, service.host),
    h('td', {}, service.version),
    repeated ? sameProcess() : h('td', { class: 'num' }, `${service.cpu_percent.toFixed(1)} %`),
    repeated ? sameProcess() : h('td', { class: 'num' }, formatBytes(service.memory_bytes)),
    h('td', {}, disk),
    h('td', {}, formatDuration(service.uptime_secs)),
    h('td', { title: service.last_seen }, ago(service.last_seen)));
}

export async function render(main) {
  const body = h('div', {});
  const updated = h('span', { class: 'muted small', 'aria-live': 'polite' });
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Service Status'), updated), body);
  async function refresh() {
    try {
      const services = await api.get('/api/v1/services');
      services.sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role)
        || a.instance_id.localeCompare(b.instance_id));
      const shownProcesses = new Set();
      body.replaceChildren(
        summary(services),
        h('section', { class: 'card' },
          ...sharedProcessNotes(services),
          table(['Health', 'Role', 'Instance', 'Host', 'Version', 'CPU', 'Memory', 'Disk', 'Uptime', 'Last seen'],
            services.map((service) => row(service, shownProcesses)),
            { empty: 'No service has reported yet. Services report every 10 seconds once started.', label: 'Services' })));
      updated.textContent = `Updated ${new Date().toLocaleTimeString('en-GB')} · refreshes every 5 s`;
    } catch (error) {
      body.replaceChildren(message('error', `Cannot load services: ${error.message}`));
    }
  }
  await refresh();
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}

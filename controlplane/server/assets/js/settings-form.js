// A form built from a plugin's settings schema (JSON Schema, as `/api/v1/plugins` serves it):
// one labelled control per property, defaults filled in, required fields marked.

import { field, h } from './dom.js';

function control(name, property, value) {
  const current = value !== undefined ? value : property.default;
  if (Array.isArray(property.enum)) {
    return h('select', { name }, property.enum.map((option) =>
      h('option', { value: option, selected: option === current }, option)));
  }
  if (property.type === 'boolean') {
    return h('input', { type: 'checkbox', name, checked: Boolean(current) });
  }
  if (property.type === 'integer') {
    return h('input', { type: 'number', name, value: current ?? '', min: property.minimum, max: property.maximum, step: 1 });
  }
  if (property.type === 'array') {
    // A list of strings, comma separated in one field.
    return h('input', { type: 'text', name, value: (current ?? []).join(', '), placeholder: 'a, b', spellcheck: 'false' });
  }
  // Secrets (`writeOnly` in the schema) are not shown over the user's shoulder.
  const type = property.writeOnly ? 'password' : 'text';
  return h('input', { type, name, value: current ?? '', placeholder: property.examples?.[0] ?? '', spellcheck: 'false', autocomplete: 'off' });
}

/// Returns `{ element, read }`; `read()` gives the settings object or throws with the field name.
export function settingsForm(schema, values = {}) {
  const required = new Set(schema.required || []);
  const controls = [];
  const element = h('div', { class: 'settings' });
  // Properties arrive sorted by name; `x-order` lists those a form should show first.
  const order = schema['x-order'] || [];
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  const properties = Object.entries(schema.properties || {})
    .sort(([a], [b]) => rank(a) - rank(b));
  for (const [name, property] of properties) {
    const input = control(name, property, values[name]);
    input.required = required.has(name) && property.type !== 'boolean';
    controls.push([name, property, input]);
    const label = `${name.replaceAll('_', ' ')}${required.has(name) ? ' (required)' : ''}`;
    element.append(property.type === 'boolean'
      ? h('div', { class: 'field check' }, h('label', {}, input, ' ', label), h('small', { class: 'hint' }, property.description || ''))
      : field(label, input, property.description));
  }
  function read() {
    const settings = {};
    for (const [name, property, input] of controls) {
      if (property.type === 'boolean') {
        settings[name] = input.checked;
      } else if (property.type === 'array') {
        settings[name] = input.value.split(',').map((item) => item.trim()).filter((item) => item !== '');
      } else if (input.value.trim() === '') {
        if (required.has(name)) {
          input.focus();
          throw new Error(`${name}: required`);
        }
      } else if (property.type === 'integer') {
        settings[name] = Number(input.value);
      } else {
        settings[name] = input.value.trim();
      }
    }
    return settings;
  }
  return { element, read };
}

use std::fmt::Write as _;

use crate::status::Status;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

const STYLE: &str = r#"
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 12px 24px; display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header span { color: #c9d1d9; font-size: 13px; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; overflow-x: auto; }
h2 { font-size: 16px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: 13px; }
.counters { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; }
.counter { border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
.counter b { display: block; font-size: 20px; font-variant-numeric: tabular-nums; }
.counter small { color: var(--muted); }
.health { font-weight: 600; }
.health::before { content: "●"; margin-right: 4px; }
.Healthy { color: var(--ok); } .Degraded, .Starting { color: var(--warn); } .Unhealthy { color: var(--bad); }
code { background: #eff1f3; padding: 1px 4px; border-radius: 4px; word-break: break-all; }
header code { background: #32383f; color: #f0f3f6; }
td:last-child { white-space: normal; }
"#;

const SCRIPT: &str = r#"
async function refresh() {
  try {
    const response = await fetch('/api/v1/status');
    if (!response.ok) return;
    const status = await response.json();
    for (const [key, value] of Object.entries(status.pipeline)) {
      const cell = document.getElementById('counter-' + key);
      if (cell) cell.textContent = value.toLocaleString();
    }
    const services = document.getElementById('services');
    services.replaceChildren(...status.services.map(s => {
      const row = document.createElement('tr');
      const health = document.createElement('td');
      health.className = 'health ' + s.health;
      health.textContent = s.health;
      health.title = s.reason;
      row.append(health);
      for (const text of [s.role, s.instance_id, s.host, s.version, new Date(s.last_seen).toLocaleTimeString(), s.reason]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }));
  } catch (error) { /* the next tick tries again */ }
}
setInterval(refresh, 2000);
"#;

const COUNTERS: [(&str, &str); 8] = [
    ("proxy_rows_durable", "received and spooled"),
    ("proxy_rows_acked", "acknowledged by receiver"),
    ("receiver_rows", "written to intake"),
    ("piper_rows", "transformed by piper"),
    ("packer_rows", "rows in Parquet"),
    ("packer_files", "Parquet files"),
    ("proxy_unparsed", "kept as unparsed text"),
    ("proxy_rows_dropped", "dropped (spool full)"),
];

pub fn render_page(status: &Status) -> String {
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>bytefreezer status</title><style>{STYLE}</style></head><body>\
         <header><h1>bytefreezer</h1><span>version {}</span>",
        escape(status.version)
    );
    if let Some(location) = &status.parquet_location {
        let _ = write!(
            html,
            "<span>Parquet lands in <code>{}</code></span>",
            escape(location)
        );
    }
    html.push_str("</header><main><section><h2>Pipeline</h2><div class=\"counters\">");
    let values = serde_json::to_value(&status.pipeline).unwrap_or_default();
    for (key, label) in COUNTERS {
        let value = values.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
        let _ = write!(
            html,
            "<div class=\"counter\"><b id=\"counter-{key}\">{value}</b><small>{label}</small></div>"
        );
    }
    html.push_str(
        "</div></section><section><h2>Services</h2><table><thead><tr><th>Health</th><th>Role</th><th>Instance</th><th>Host</th>\
         <th>Version</th><th>Last seen</th><th>Detail</th></tr></thead><tbody id=\"services\">",
    );
    for service in &status.services {
        let _ = write!(
            html,
            "<tr><td class=\"health {health}\" title=\"{reason}\">{health}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{reason}</td></tr>",
            escape(&service.role),
            escape(&service.instance_id),
            escape(&service.host),
            escape(&service.version),
            service.last_seen.format("%H:%M:%S UTC"),
            health = service.health,
            reason = escape(&service.reason),
        );
    }
    if status.services.is_empty() {
        html.push_str("<tr><td colspan=\"7\">No service has reported yet.</td></tr>");
    }
    html.push_str(
        "</tbody></table></section><section><h2>Datasets</h2><table><thead><tr><th>Tenant</th><th>Dataset</th><th>Name</th>\
         <th>Source</th><th>Listen</th><th>Mode</th><th>State</th></tr></thead><tbody>",
    );
    for dataset in &status.datasets {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&dataset.tenant_id),
            escape(&dataset.dataset_id),
            escape(&dataset.name),
            dataset.plugin,
            escape(&dataset.listen),
            if dataset.testing {
                "testing (flushes at once)"
            } else {
                "production"
            },
            if dataset.active { "active" } else { "paused" },
        );
    }
    if status.datasets.is_empty() {
        html.push_str("<tr><td colspan=\"7\">No dataset yet.</td></tr>");
    }
    let _ = write!(
        html,
        "</tbody></table></section></main><script>{SCRIPT}</script></body></html>"
    );
    html
}

/// What `/` shows on a standalone control plane until the dashboard's login page exists: where
/// the API and its description are.
pub fn render_login_notice() -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>bytefreezer control plane</title><style>{STYLE}</style></head><body>\
         <header><h1>bytefreezer control plane</h1><span>{}</span></header><main><section>\
         <h2>Sign in through the API</h2><p>Log in with <code>POST /api/v1/auth/login</code> or use \
         <code>bytefreezer ctl</code>; services and scripts send <code>Authorization: Bearer &lt;api key&gt;</code>.</p>\
         <p>The API is described at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\
         </section></main></body></html>",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}

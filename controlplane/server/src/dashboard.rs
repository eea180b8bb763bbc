//! The dashboard: a handful of static files compiled into the binary (no CDN, works offline),
//! served with a strict Content-Security-Policy. Pages are built in the browser from the API,
//! so this module never renders stored values itself.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../assets/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("js/app.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/dom.js", "text/javascript; charset=utf-8"),
    asset!("js/chart.js", "text/javascript; charset=utf-8"),
    asset!("js/login.js", "text/javascript; charset=utf-8"),
    asset!("js/status.js", "text/javascript; charset=utf-8"),
    asset!("js/statistics.js", "text/javascript; charset=utf-8"),
    asset!("js/activity.js", "text/javascript; charset=utf-8"),
    asset!("js/datasets.js", "text/javascript; charset=utf-8"),
    asset!("js/dataset.js", "text/javascript; charset=utf-8"),
    asset!("js/settings-form.js", "text/javascript; charset=utf-8"),
    asset!("js/pipeline.js", "text/javascript; charset=utf-8"),
    asset!("js/dataside.js", "text/javascript; charset=utf-8"),
    asset!("js/query.js", "text/javascript; charset=utf-8"),
    asset!("js/audit.js", "text/javascript; charset=utf-8"),
];

const INDEX: &str = include_str!("../assets/index.html");

/// Scripts and styles only from this origin; `connect-src` stays open because the Query page
/// calls the query service, which may live on another host of the data side.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self' http: https:; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

fn hardened(mut response: Response, cache: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Assets change with the binary; revalidating each load is cheap on a control plane.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

pub(crate) async fn index() -> Response {
    hardened(
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response(),
        "no-cache",
    )
}

pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) => hardened(
            ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response(),
            "no-cache",
        ),
        None => (StatusCode::NOT_FOUND, "no such dashboard file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the pages import is served, so a new file cannot be forgotten here.
    #[test]
    fn every_imported_module_is_served() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for line in asset.body.lines() {
                let imported = line
                    .split("from './")
                    .nth(1)
                    .or_else(|| line.split("import('./").nth(1));
                if let Some(rest) = imported {
                    let name = rest.split('\'').next().unwrap_or_default();
                    let path = format!("js/{name}");
                    assert!(
                        ASSETS.iter().any(|a| a.path == path),
                        "{} imports {path}, which is not in ASSETS",
                        asset.path
                    );
                }
            }
        }
        assert!(INDEX.contains("/assets/js/app.js"));
        assert!(INDEX.contains("/assets/app.css"));
    }
}

//! The OpenAPI document, generated from the handlers' annotations and types.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{
    accounts_api, audit_api, checks_api, config_api, datasets_api, dead_letters_api, keys_api,
    pipeline_api, plugins_api, registry_api, session_api,
};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-bf_session"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "bytefreezer control plane", description = "Accounts, tenants, datasets, API keys, the service registry, statistics, activity, the audit log and configuration delivery. Sessions must send X-CSRF-Token on every change."),
    modifiers(&Security),
    security(("api_key" = []), ("session" = [])),
    paths(
        session_api::login, session_api::logout, session_api::me, session_api::change_password,
        accounts_api::list_accounts, accounts_api::create_account, accounts_api::get_account,
        accounts_api::update_account, accounts_api::delete_account,
        accounts_api::list_users, accounts_api::create_user, accounts_api::delete_user,
        datasets_api::list_tenants, datasets_api::create_tenant, datasets_api::get_tenant,
        datasets_api::update_tenant, datasets_api::delete_tenant,
        datasets_api::list_all_datasets, datasets_api::list_datasets, datasets_api::create_dataset,
        datasets_api::get_dataset, datasets_api::update_dataset, datasets_api::delete_dataset,
        datasets_api::pause_dataset, datasets_api::resume_dataset, datasets_api::assign_dataset,
        pipeline_api::get_pipeline, pipeline_api::put_pipeline, pipeline_api::filters,
        pipeline_api::test_transformation,
        keys_api::list_keys, keys_api::create_key, keys_api::revoke_key,
        registry_api::report, registry_api::list_services, registry_api::statistics,
        registry_api::dataset_statistics, registry_api::activity, registry_api::query_access,
        audit_api::audit, config_api::dataplane_config,
        checks_api::check_input, checks_api::check_output,
        dead_letters_api::list_dead_letters, dead_letters_api::replay_dead_letters,
        plugins_api::plugins,
    )
)]
struct ApiDoc;

/// `GET /api/v1/openapi.json`, public so tools can discover the API.
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

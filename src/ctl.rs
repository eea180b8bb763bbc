//! `bytefreezer ctl`: the control plane's REST API for scripts and terminals. Authenticates with
//! an API key or with the session `ctl login` saves; prints tables and one-line summaries, or
//! the server's JSON with `--json`. A refusal prints the server's message and exits non-zero.

mod client;
mod datasets;
mod dead_letters;
mod output;
mod session;

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, Result, bail};
use bytefreezer_api::rest::{
    AccountRequest, CreatedKey, KeyRequest, LoginRequest, TenantRequest, WhoAmI,
};
use reqwest::Method;
use serde_json::{Value, json};

use self::client::{Auth, Client, answer, request_body};
use self::output::{text, time};
use self::session::SavedSession;
use crate::cli::{
    CtlAccountsCommand, CtlArgs, CtlAuditArgs, CtlCommand, CtlKeysCommand, CtlTenantsCommand,
};

const DEFAULT_URL: &str = "http://127.0.0.1:8000";

pub async fn run(args: CtlArgs) -> Result<()> {
    let CtlArgs {
        url,
        api_key,
        json,
        command,
    } = args;
    let client = match &command {
        CtlCommand::Login { email } => return login(url, email, json).await,
        CtlCommand::Logout => return logout(url, json).await,
        _ => connect(url, api_key)?,
    };
    match command {
        CtlCommand::Login { .. } | CtlCommand::Logout => Ok(()),
        CtlCommand::Whoami => whoami(&client, json).await,
        CtlCommand::Accounts(command) => accounts(&client, command, json).await,
        CtlCommand::Tenants(command) => tenants(&client, command, json).await,
        CtlCommand::Datasets(command) => datasets::run(&client, command, json).await,
        CtlCommand::Keys(command) => keys(&client, command, json).await,
        CtlCommand::DeadLetters(command) => dead_letters::run(&client, command, json).await,
        CtlCommand::Services => services(&client, json).await,
        CtlCommand::Audit(filters) => audit(&client, filters, json).await,
    }
}

/// A client authenticated with the API key, else with the saved session.
fn connect(url: Option<String>, api_key: Option<String>) -> Result<Client> {
    if let Some(key) = api_key.filter(|key| !key.trim().is_empty()) {
        let url = url.unwrap_or_else(|| DEFAULT_URL.to_owned());
        return Client::new(&url, Auth::ApiKey(key.trim().to_owned()));
    }
    let path = session::path()?;
    let Some(saved) = session::load(&path)? else {
        bail!(
            "not logged in: run `bytefreezer ctl login --email EMAIL` (password on stdin), or \
             pass --api-key (or set BYTEFREEZER_API_KEY)"
        );
    };
    if let Some(url) = url.filter(|url| !same_server(url, &saved.url)) {
        bail!(
            "the saved session is for {}, not {url}; run `bytefreezer ctl login --url {url} \
             --email EMAIL`, or pass --api-key",
            saved.url
        );
    }
    let url = saved.url.clone();
    Client::new(&url, Auth::Session(saved))
}

fn same_server(left: &str, right: &str) -> bool {
    left.trim_end_matches('/') == right.trim_end_matches('/')
}

async fn login(url: Option<String>, email: &str, json: bool) -> Result<()> {
    let path = session::path()?;
    let url = match url {
        Some(url) => url,
        // Logging in again goes to the same control plane as before.
        None => session::load(&path)
            .ok()
            .flatten()
            .map_or_else(|| DEFAULT_URL.to_owned(), |saved| saved.url),
    };
    let password = read_password()?;
    let client = Client::new(&url, Auth::Anonymous)?;
    let login = LoginRequest {
        email: email.to_owned(),
        password,
    };
    let reply = client
        .request(
            Method::POST,
            &["auth", "login"],
            &[],
            Some(&request_body(&login)?),
        )
        .await?;
    let token = client::session_cookie(&reply.headers)
        .context("the control plane's login answer set no session cookie")?;
    let me: WhoAmI = answer(&reply.body, "the login")?;
    let csrf_token = me
        .csrf_token
        .context("the control plane's login answer has no csrf_token")?;
    session::save(
        &path,
        &SavedSession {
            url: url.clone(),
            actor: me.actor.clone(),
            token,
            csrf_token,
        },
    )?;
    if json {
        return output::json(&reply.body);
    }
    output::line(format!(
        "logged in to {url} as {} ({}); session saved in {}",
        me.actor,
        me.role,
        path.display()
    ))
}

/// The first line of stdin, so scripts can pipe the password in without it showing in `ps`.
fn read_password() -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        bail!(
            "no password on stdin; pipe it in, e.g. `printf '%s\\n' \"$PASSWORD\" | bytefreezer \
             ctl login --email EMAIL`"
        );
    }
    Ok(password.to_owned())
}

/// Ends the session on the server when it can, and deletes the file in any case.
async fn logout(url: Option<String>, json: bool) -> Result<()> {
    let path = session::path()?;
    let Some(saved) = session::load(&path)? else {
        return output::line(format!("not logged in (no session in {})", path.display()));
    };
    let (server, actor) = (saved.url.clone(), saved.actor.clone());
    let ended = match url.filter(|url| !same_server(url, &server)) {
        Some(url) => Err(anyhow::anyhow!(
            "the saved session is for {server}, not {url}"
        )),
        None => match Client::new(&server, Auth::Session(saved)) {
            Ok(client) => client.post_empty(&["auth", "logout"]).await.map(drop),
            Err(error) => Err(error),
        },
    };
    session::remove(&path)?;
    if let Err(error) = &ended {
        eprintln!("warning: the server did not end the session: {error:#}");
    }
    if json {
        return output::json(&json!({ "logged_out": actor, "url": server }));
    }
    output::line(format!("logged out {actor} from {server}"))
}

async fn whoami(client: &Client, json: bool) -> Result<()> {
    let answered = client.get(&["auth", "me"], &[]).await?;
    if json {
        return output::json(&answered);
    }
    let me: WhoAmI = answer(&answered, "auth/me")?;
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let account = match (me.account_name, or_dash(me.account_id)) {
        (Some(name), id) => format!("{name} ({id})"),
        (None, id) => id,
    };
    let via = match client.auth() {
        Auth::ApiKey(_) => "API key".to_owned(),
        Auth::Session(_) => format!("session saved in {}", session::path()?.display()),
        Auth::Anonymous => "nothing".to_owned(),
    };
    output::print_pairs(&[
        ("actor", me.actor),
        ("role", me.role),
        ("account", account),
        ("tenant", or_dash(me.tenant_id)),
        ("server", client.base().to_string()),
        ("via", via),
    ])
}

async fn accounts(client: &Client, command: CtlAccountsCommand, json: bool) -> Result<()> {
    match command {
        CtlAccountsCommand::List => {
            let answer = client.get(&["accounts"], &[]).await?;
            if json {
                return output::json(&answer);
            }
            let rows: Vec<Vec<String>> = output::list(&answer, "accounts")?
                .iter()
                .map(|account| {
                    vec![
                        text(account, "/id"),
                        text(account, "/name"),
                        time(account, "/created_at"),
                    ]
                })
                .collect();
            output::print_table(&["ID", "NAME", "CREATED"], &rows, "no accounts")
        }
        CtlAccountsCommand::Create { name } => {
            let account = client.post(&["accounts"], &AccountRequest { name }).await?;
            if json {
                return output::json(&account);
            }
            output::line(format!(
                "created account {} (id {})",
                text(&account, "/name"),
                text(&account, "/id")
            ))
        }
    }
}

async fn tenants(client: &Client, command: CtlTenantsCommand, json: bool) -> Result<()> {
    match command {
        CtlTenantsCommand::List => {
            let answer = client.get(&["tenants"], &[]).await?;
            if json {
                return output::json(&answer);
            }
            let rows: Vec<Vec<String>> = output::list(&answer, "tenants")?
                .iter()
                .map(|tenant| {
                    vec![
                        text(tenant, "/id"),
                        text(tenant, "/name"),
                        text(tenant, "/account_id"),
                        time(tenant, "/created_at"),
                    ]
                })
                .collect();
            output::print_table(&["ID", "NAME", "ACCOUNT", "CREATED"], &rows, "no tenants")
        }
        CtlTenantsCommand::Create { id, name, account } => {
            let request = TenantRequest {
                tenant_id: Some(id),
                name,
                account_id: account,
            };
            let tenant = client.post(&["tenants"], &request).await?;
            if json {
                return output::json(&tenant);
            }
            output::line(format!(
                "created tenant {} ({}) in account {}",
                text(&tenant, "/id"),
                text(&tenant, "/name"),
                text(&tenant, "/account_id")
            ))
        }
        CtlTenantsCommand::Delete { id } => {
            let answer = client.delete(&["tenants", &id]).await?;
            if json {
                return output::json(&answer);
            }
            output::line(format!("deleted tenant {id}"))
        }
    }
}

fn key_scope(key: &Value) -> String {
    match (
        key.get("tenant_id").and_then(Value::as_str),
        key.get("dataset_id").and_then(Value::as_str),
    ) {
        (Some(tenant), Some(dataset)) => format!("dataset {tenant}/{dataset}"),
        (Some(tenant), None) => format!("tenant {tenant}"),
        (None, _) => format!("account {}", text(key, "/account_id")),
    }
}

async fn keys(client: &Client, command: CtlKeysCommand, json: bool) -> Result<()> {
    match command {
        CtlKeysCommand::List => {
            let answer = client.get(&["keys"], &[]).await?;
            if json {
                return output::json(&answer);
            }
            let rows: Vec<Vec<String>> = output::list(&answer, "API keys")?
                .iter()
                .map(|key| {
                    let revoked = key.get("revoked_at").is_some_and(|at| !at.is_null());
                    let last_used = match key.get("last_used_at") {
                        Some(Value::String(_)) => time(key, "/last_used_at"),
                        _ => "never".to_owned(),
                    };
                    vec![
                        text(key, "/id"),
                        text(key, "/name"),
                        key_scope(key),
                        if revoked { "revoked" } else { "active" }.to_owned(),
                        time(key, "/created_at"),
                        last_used,
                    ]
                })
                .collect();
            output::print_table(
                &["ID", "NAME", "SCOPE", "STATE", "CREATED", "LAST USED"],
                &rows,
                "no API keys",
            )
        }
        CtlKeysCommand::Create {
            name,
            tenant,
            dataset,
            account,
        } => {
            let request = KeyRequest {
                name,
                tenant_id: tenant,
                dataset_id: dataset,
                account_id: account,
            };
            let answered = client.post(&["keys"], &request).await?;
            if json {
                return output::json(&answered);
            }
            let created: CreatedKey = answer(&answered, "keys create")?;
            output::emit(&format!(
                "created API key {} (id {}) for {}\nkey: {}\nnote: this is the only time \
                 the key is shown; store it now, it cannot be retrieved later\n",
                created.record.name,
                created.record.id,
                key_scope(&answered),
                created.key,
            ))
        }
        CtlKeysCommand::Revoke { id } => {
            let key = client.delete(&["keys", &id]).await?;
            if json {
                return output::json(&key);
            }
            output::line(format!(
                "revoked API key {} (id {})",
                text(&key, "/name"),
                text(&key, "/id")
            ))
        }
    }
}

async fn services(client: &Client, json: bool) -> Result<()> {
    let answer = client.get(&["services"], &[]).await?;
    if json {
        return output::json(&answer);
    }
    let rows: Vec<Vec<String>> = output::list(&answer, "services")?
        .iter()
        .map(|service| {
            let cpu = service
                .get("cpu_percent")
                .and_then(Value::as_f64)
                .map_or_else(|| "-".to_owned(), |cpu| format!("{cpu:.1}%"));
            let memory = service
                .get("memory_bytes")
                .and_then(Value::as_u64)
                .map_or_else(|| "-".to_owned(), output::bytes);
            vec![
                text(service, "/role"),
                text(service, "/instance_id"),
                text(service, "/host"),
                text(service, "/health"),
                cpu,
                memory,
                time(service, "/last_seen"),
                text(service, "/reason"),
            ]
        })
        .collect();
    output::print_table(
        &[
            "ROLE",
            "INSTANCE",
            "HOST",
            "HEALTH",
            "CPU",
            "MEMORY",
            "LAST SEEN",
            "REASON",
        ],
        &rows,
        "no services have reported yet",
    )
}

async fn audit(client: &Client, filters: CtlAuditArgs, json: bool) -> Result<()> {
    let now = chrono::Utc::now();
    let mut query: Vec<(&str, String)> = Vec::new();
    for (name, value) in [
        ("actor", filters.actor),
        ("action", filters.action),
        ("target", filters.target),
        (
            "since",
            filters
                .since
                .map(|t| point_in_time("--since", &t, now))
                .transpose()?,
        ),
        (
            "until",
            filters
                .until
                .map(|t| point_in_time("--until", &t, now))
                .transpose()?,
        ),
        ("limit", filters.limit.map(|limit| limit.to_string())),
    ] {
        if let Some(value) = value {
            query.push((name, value));
        }
    }
    let mut entries: Vec<Value> = Vec::new();
    let mut next_before: Option<String> = None;
    loop {
        let mut page_query = query.clone();
        if let Some(before) = &next_before {
            page_query.push(("before", before.clone()));
        }
        let page = client.get(&["audit"], &page_query).await?;
        let page_entries = page
            .get("entries")
            .and_then(Value::as_array)
            .context("the control plane's audit answer has no entries")?;
        entries.extend(page_entries.iter().cloned());
        let cursor = page
            .get("next_before")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // A cursor that does not move would page forever.
        let stuck = cursor.is_some() && cursor == next_before;
        next_before = cursor;
        if !filters.all || next_before.is_none() || stuck || page_entries.is_empty() {
            break;
        }
    }
    if filters.all {
        next_before = None;
    }
    if json {
        return output::json(&json!({ "entries": entries, "next_before": next_before }));
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            vec![
                time(entry, "/at"),
                text(entry, "/actor"),
                text(entry, "/action"),
                text(entry, "/target"),
            ]
        })
        .collect();
    output::print_table(
        &["AT", "ACTOR", "ACTION", "TARGET"],
        &rows,
        "no audit entries match",
    )?;
    if next_before.is_some() {
        eprintln!("(more entries: add --all, or narrow with --since / --action / --target)");
    }
    Ok(())
}

/// An age such as `30m`, `12h` or `7d` as the RFC 3339 time that long before `now`, or an
/// RFC 3339 time as written.
fn point_in_time(flag: &str, text: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
    if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return Ok(text.to_owned());
    }
    let age = text
        .char_indices()
        .last()
        .and_then(|(at, unit)| Some((text[..at].parse::<i64>().ok()?, unit)))
        .and_then(|(count, unit)| match unit {
            's' => chrono::Duration::try_seconds(count),
            'm' => chrono::Duration::try_minutes(count),
            'h' => chrono::Duration::try_hours(count),
            'd' => chrono::Duration::try_days(count),
            _ => None,
        });
    match age.and_then(|age| now.checked_sub_signed(age)) {
        Some(at) => Ok(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => bail!(
            "{flag} {text:?}: expected an RFC 3339 time such as 2026-03-01T00:00:00Z or an age \
             such as 30m, 12h, 7d"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_become_times_and_anything_else_is_refused_here() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let at = |text: &str| point_in_time("--since", text, now);
        assert_eq!(at("90m").unwrap(), "2026-03-10T10:30:00Z");
        assert_eq!(at("2d").unwrap(), "2026-03-08T12:00:00Z");
        assert_eq!(
            at("2026-03-01T00:00:00+01:00").unwrap(),
            "2026-03-01T00:00:00+01:00"
        );
        for wrong in ["yesterday", "", "5w", "d"] {
            let error = at(wrong).unwrap_err().to_string();
            assert!(
                error.contains("--since") && error.contains("30m"),
                "{error}"
            );
        }
    }

    #[test]
    fn key_scopes_read_naturally() {
        assert_eq!(
            key_scope(&json!({"account_id": "a1", "tenant_id": null})),
            "account a1"
        );
        assert_eq!(
            key_scope(&json!({"account_id": "a1", "tenant_id": "acme"})),
            "tenant acme"
        );
        assert_eq!(
            key_scope(&json!({"tenant_id": "acme", "dataset_id": "fw"})),
            "dataset acme/fw"
        );
    }
}

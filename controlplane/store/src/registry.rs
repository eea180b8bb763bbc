use std::collections::BTreeMap;

use bytefreezer_api::{ReplayDone, ServiceReport, UnknownRole};
use chrono::{DateTime, DurationRound, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::dead_letters::record_replay_done;
use crate::error::StoreError;
use crate::model::{ActivityQuery, ActivityRecord, Actor, ServiceRecord, StatPoint};
use crate::store::{
    AuditRecord, ControlStore, check_identifier, commit_audited, new_id, now, stamp, timestamp,
    write_audit,
};

/// Growth one report may add to a statistic (10^15 events in 10 s is no real service), so a
/// broken or hostile reporter cannot overflow the per-minute sums.
const MAX_GROWTH_PER_REPORT: u64 = 1_000_000_000_000_000;

/// A report showing lag above this makes its service Degraded.
const LAG_THRESHOLD_SECS: f64 = 60.0;

const SERVICE_COLUMNS: &str = "instance_id, account_id, role, host, version, started_at, registered_at, last_seen, ready, healthy, detail, report";

fn service_from_row(row: &AnyRow) -> Result<ServiceRecord, StoreError> {
    let started_at = timestamp(&row.get::<String, _>(5));
    // Only known roles are stored, so another comes from a newer build's database.
    let role = row
        .get::<String, _>(2)
        .parse()
        .map_err(|unknown: UnknownRole| StoreError::Invalid {
            field: "role",
            reason: unknown.to_string(),
        })?;
    Ok(ServiceRecord {
        instance_id: row.get(0),
        account_id: row.get(1),
        role,
        host: row.get(3),
        version: row.get(4),
        started_at,
        registered_at: row
            .get::<Option<String>, _>(6)
            .map_or(started_at, |text| timestamp(&text)),
        last_seen: timestamp(&row.get::<String, _>(7)),
        ready: row.get::<i64, _>(8) != 0,
        healthy: row.get::<i64, _>(9) != 0,
        detail: row.get(10),
        report: serde_json::from_str(&row.get::<String, _>(11)).unwrap_or_default(),
    })
}

/// Counter growth since the previous report; a restarted service starts from zero again.
fn growth(current: u64, previous: Option<u64>) -> u64 {
    match previous {
        Some(previous) if current >= previous => current - previous,
        _ => current,
    }
}

/// Why a report makes its service Degraded, or `None` when it is fine.
fn degraded_reason(report: &ServiceReport, previous: Option<&ServiceReport>) -> Option<String> {
    let previous = previous.filter(|p| p.started_at == report.started_at);
    let errors = growth(report.errors_total, previous.map(|p| p.errors_total));
    let drops = growth(report.drops_total, previous.map(|p| p.drops_total));
    let mut reasons = Vec::new();
    if errors > 0 {
        reasons.push(format!("{errors} errors since the last report"));
    }
    if drops > 0 {
        reasons.push(format!("{drops} events dropped since the last report"));
    }
    if report.lag_seconds > LAG_THRESHOLD_SECS {
        reasons.push(format!(
            "{:.0} s behind (threshold {LAG_THRESHOLD_SECS:.0} s)",
            report.lag_seconds
        ));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

fn dataset_counters(report: &ServiceReport) -> BTreeMap<(&str, &str, &str), u64> {
    report
        .datasets
        .iter()
        .flat_map(|d| {
            d.counters.iter().map(move |(metric, value)| {
                (
                    (d.tenant_id.as_str(), d.dataset_id.as_str(), metric.as_str()),
                    *value,
                )
            })
        })
        .collect()
}

fn minute_of(time: DateTime<Utc>) -> String {
    stamp(
        time.duration_trunc(chrono::Duration::minutes(1))
            .unwrap_or(time),
    )
}

/// The reporter of the services that run inside the control plane's own process.
pub const LOCAL_REPORTER: &str = "local";

impl ControlStore {
    /// [`ControlStore::record_report_by`] for the services of this process ([`LOCAL_REPORTER`]).
    pub async fn record_report(
        &self,
        account_id: Option<&str>,
        tenant_id: Option<&str>,
        report: &ServiceReport,
    ) -> Result<(), StoreError> {
        self.record_report_by(account_id, tenant_id, LOCAL_REPORTER, report)
            .await
    }

    /// Records one heartbeat report: registers the service the first time (audited), derives
    /// its health, adds counter growth to the per-minute statistics and keeps its activity.
    ///
    /// An instance belongs to the `reporter` that registered it (`key:<id>`, `user:<email>`):
    /// a report for it from anyone else is a conflict, so no caller can take over another's
    /// instance (and, for a query service, the endpoint browsers are sent to). Instances
    /// registered before reporters were recorded belong to the next one that reports.
    ///
    /// Counters and activity count only for datasets of the reporter's own scope: `account_id`
    /// (`None`: every account) and, for a tenant key, `tenant_id`; anything else is ignored.
    pub async fn record_report_by(
        &self,
        account_id: Option<&str>,
        tenant_id: Option<&str>,
        reporter: &str,
        report: &ServiceReport,
    ) -> Result<(), StoreError> {
        check_identifier("instance_id", &report.instance_id)?;
        if let Err(unknown) = report.known_role() {
            return Err(StoreError::Invalid {
                field: "role",
                reason: unknown.to_string(),
            });
        }
        let started_at =
            DateTime::parse_from_rfc3339(&report.started_at).map_err(|e| StoreError::Invalid {
                field: "started_at",
                reason: format!("not an RFC 3339 time: {e}"),
            })?;
        let existing = self.service(&report.instance_id).await?;
        let conflict = || StoreError::Conflict {
            what: format!("service instance {}", report.instance_id),
        };
        if let Some(existing) = &existing
            && existing.account_id.as_deref() != account_id
        {
            return Err(conflict());
        }
        if existing.is_some() {
            let owner: Option<String> =
                sqlx::query("SELECT registered_by FROM services WHERE instance_id = $1")
                    .bind(&report.instance_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .and_then(|row| row.get(0));
            if owner.is_some_and(|owner| owner != reporter) {
                return Err(conflict());
            }
        }
        let previous = existing
            .as_ref()
            .map(|s| &s.report)
            .filter(|p| p.started_at == report.started_at);
        let reason = degraded_reason(report, previous);
        let seen = Utc::now();
        // Everything read through the pool is read before the transaction: with SQLite, a
        // second connection asked for while this one holds the write lock deadlocks against
        // the other reporters until the busy timeout.
        let own_tenants: Option<Vec<String>> = match account_id {
            Some(account) => Some(
                self.list_tenants(Some(account))
                    .await?
                    .into_iter()
                    .map(|t| t.id)
                    .filter(|t| tenant_id.is_none_or(|own| own == t))
                    .collect(),
            ),
            None => None,
        };
        let in_scope = |tenant: &str| {
            own_tenants
                .as_ref()
                .is_none_or(|own| own.iter().any(|t| t == tenant))
        };
        let mut tx = self.begin().await?;
        // The WHERE keeps the check above true when two reporters race for a new instance: the
        // loser changes nothing and gets the conflict.
        let written = sqlx::query(
            "INSERT INTO services (instance_id, account_id, role, host, version, started_at, registered_at, last_seen, ready, healthy, detail, report, registered_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (instance_id) DO UPDATE SET role = excluded.role, host = excluded.host, version = excluded.version, \
             started_at = excluded.started_at, last_seen = excluded.last_seen, \
             ready = CASE WHEN services.ready = 1 OR excluded.ready = 1 THEN 1 ELSE 0 END, \
             healthy = excluded.healthy, detail = excluded.detail, report = excluded.report, \
             registered_by = excluded.registered_by \
             WHERE services.registered_by IS NULL OR services.registered_by = excluded.registered_by",
        )
        .bind(&report.instance_id)
        .bind(account_id)
        .bind(&report.role)
        .bind(&report.host)
        .bind(&report.version)
        .bind(stamp(started_at.with_timezone(&Utc)))
        .bind(stamp(seen))
        .bind(i64::from(report.ready))
        .bind(i64::from(reason.is_none()))
        .bind(reason.unwrap_or_default())
        .bind(serde_json::to_string(&ServiceReport {
            activity: Vec::new(),
            ..report.clone()
        })?)
        .bind(reporter)
        .execute(&mut *tx)
        .await?;
        if written.rows_affected() == 0 {
            return Err(conflict());
        }
        if existing.is_none() {
            write_audit(
                &mut tx,
                &Actor(format!("service:{}", report.instance_id)),
                AuditRecord {
                    account_id,
                    tenant_id: None,
                    action: "service.register",
                    target: format!("service/{}", report.instance_id),
                    before: serde_json::Value::Null,
                    after: serde_json::json!({
                        "role": report.role, "host": report.host, "version": report.version,
                    }),
                },
            )
            .await?;
        }
        let before = previous.map(dataset_counters).unwrap_or_default();
        let minute = minute_of(seen);
        for ((tenant, dataset, metric), value) in dataset_counters(report) {
            let added = growth(value, before.get(&(tenant, dataset, metric)).copied())
                .min(MAX_GROWTH_PER_REPORT);
            if added == 0 || !in_scope(tenant) {
                continue;
            }
            sqlx::query(
                "INSERT INTO dataset_stats (tenant_id, dataset_id, minute, metric, value) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, dataset_id, minute, metric) DO UPDATE SET value = dataset_stats.value + excluded.value",
            )
            .bind(tenant)
            .bind(dataset)
            .bind(&minute)
            .bind(metric)
            .bind(added as i64)
            .execute(&mut *tx)
            .await?;
        }
        for event in report.activity.iter().filter(|e| in_scope(&e.tenant_id)) {
            sqlx::query(
                "INSERT INTO activity_events (id, at, account_id, instance_id, stage, tenant_id, dataset_id, outcome, message, details) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(new_id())
            .bind(&event.time)
            .bind(account_id)
            .bind(&report.instance_id)
            .bind(&event.stage)
            .bind(&event.tenant_id)
            .bind(&event.dataset_id)
            .bind(&event.outcome)
            .bind(&event.message)
            .bind(event.details.to_string())
            .execute(&mut *tx)
            .await?;
            if let Some(done) = ReplayDone::from_details(&event.details) {
                record_replay_done(
                    &mut tx,
                    &report.instance_id,
                    (&event.tenant_id, &event.dataset_id),
                    &event.stage,
                    &done,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes the audit entry of a short-lived query token handed to `actor` for one tenant.
    pub async fn audit_query_token(
        &self,
        actor: &Actor,
        account_id: &str,
        tenant_id: &str,
        token_id: &str,
        expires_at: &str,
    ) -> Result<(), StoreError> {
        let record = AuditRecord::change(
            (Some(account_id), Some(tenant_id)),
            "query_token.issue",
            format!("tenant/{tenant_id}"),
            None::<&()>,
            Some(&serde_json::json!({ "token_id": token_id, "expires_at": expires_at })),
        )?;
        commit_audited(self.begin().await?, actor, record).await
    }

    pub async fn service(&self, instance_id: &str) -> Result<Option<ServiceRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE instance_id = $1"
        ))
        .bind(instance_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(service_from_row).transpose()
    }

    /// Services of one account, or all with `None`.
    pub async fn list_services(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<ServiceRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SERVICE_COLUMNS} FROM services WHERE ($1 IS NULL OR account_id = $1) ORDER BY role, instance_id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(service_from_row).collect()
    }

    /// Per-minute points of one dataset since `since`, oldest first.
    pub async fn dataset_stats(
        &self,
        tenant_id: &str,
        dataset_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<StatPoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT minute, metric, value FROM dataset_stats WHERE tenant_id = $1 AND dataset_id = $2 AND minute >= $3 \
             ORDER BY minute, metric",
        )
        .bind(tenant_id)
        .bind(dataset_id)
        .bind(minute_of(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| StatPoint {
                minute: row.get(0),
                metric: row.get(1),
                value: row.get(2),
            })
            .collect())
    }

    /// All-time totals of one dataset per metric.
    pub async fn dataset_totals(
        &self,
        tenant_id: &str,
        dataset_id: &str,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT metric, CAST(SUM(value) AS BIGINT) FROM dataset_stats WHERE tenant_id = $1 AND dataset_id = $2 GROUP BY metric",
        )
        .bind(tenant_id)
        .bind(dataset_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// All-time totals per metric of every dataset with statistics (of one tenant, when given),
    /// in one query: the overview lists many datasets and must not ask once per dataset.
    pub async fn all_dataset_totals(
        &self,
        tenant_id: Option<&str>,
    ) -> Result<BTreeMap<(String, String), BTreeMap<String, i64>>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, dataset_id, metric, CAST(SUM(value) AS BIGINT) FROM dataset_stats \
             WHERE ($1 IS NULL OR tenant_id = $1) GROUP BY tenant_id, dataset_id, metric",
        )
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?;
        let mut totals: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
        for row in &rows {
            totals
                .entry((row.get(0), row.get(1)))
                .or_default()
                .insert(row.get(2), row.get(3));
        }
        Ok(totals)
    }

    pub async fn list_activity(
        &self,
        query: &ActivityQuery,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        let limit = i64::from(query.limit.clamp(1, 1000));
        let rows = sqlx::query(
            "SELECT id, at, instance_id, stage, tenant_id, dataset_id, outcome, message, details FROM activity_events \
             WHERE ($1 IS NULL OR account_id = $1) AND ($2 IS NULL OR tenant_id = $2) AND ($3 IS NULL OR dataset_id = $3) \
             AND ($4 IS NULL OR stage = $4) AND ($5 IS NULL OR outcome = $5) AND ($6 IS NULL OR id < $6) \
             ORDER BY id DESC LIMIT $7",
        )
        .bind(query.account_id.as_deref())
        .bind(query.tenant_id.as_deref())
        .bind(query.dataset_id.as_deref())
        .bind(query.stage.as_deref())
        .bind(query.outcome.as_deref())
        .bind(query.before.as_deref())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| ActivityRecord {
                id: row.get(0),
                at: row.get(1),
                instance_id: row.get(2),
                stage: row.get(3),
                tenant_id: row.get(4),
                dataset_id: row.get(5),
                outcome: row.get(6),
                message: row.get(7),
                details: serde_json::from_str(&row.get::<String, _>(8))
                    .unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    /// Drops statistics and activity older than `keep`, and sessions that expired.
    pub async fn prune(&self, keep: chrono::Duration) -> Result<(), StoreError> {
        let cutoff = stamp(Utc::now() - keep);
        sqlx::query("DELETE FROM dataset_stats WHERE minute < $1")
            .bind(&cutoff)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM activity_events WHERE at < $1")
            .bind(&cutoff)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_counter_growth_not_totals() {
        let mut report = ServiceReport {
            started_at: "2026-11-29T10:00:00Z".into(),
            errors_total: 3,
            ..Default::default()
        };
        assert_eq!(
            degraded_reason(&report, None).as_deref(),
            Some("3 errors since the last report")
        );
        let previous = report.clone();
        assert_eq!(degraded_reason(&report, Some(&previous)), None);
        report.drops_total = 2;
        report.lag_seconds = 90.0;
        assert_eq!(
            degraded_reason(&report, Some(&previous)).as_deref(),
            Some("2 events dropped since the last report; 90 s behind (threshold 60 s)")
        );
    }
}

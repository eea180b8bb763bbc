use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use bytefreezer_api::DataPlaneConfig;
use bytefreezer_layout::parquet_folder_in;
use bytefreezer_storage::Bucket;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::{displayable, execute_stream};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, oneshot, watch};

use crate::bounded_functions::{self, STRING_TOO_LONG};
use crate::literals::check_literals;

/// The folders of the Parquet layout, queryable as columns: `WHERE hour = '10'` reads one folder.
const PARTITION_COLUMNS: [&str; 4] = ["year", "month", "day", "hour"];
const STORE_URL: &str = "bytefreezer://parquet";

/// What one query may use. Defaults: 30 s (waiting for a turn included), 10,000 rows and
/// 64 MiB of result batches returned, 512 MiB of working memory (sorts, joins, aggregations
/// such as `string_agg` and `array_agg`), 64 MiB from one call of a growing function (`repeat`,
/// `lpad`, `rpad`, `replace`, `regexp_replace`, `concat`, `concat_ws`, `||`, `array_repeat`,
/// `array_resize`, `range`, ...) over one batch, and 8 KiB (that / 8,192 rows) for a value
/// written in the query or computed from its constants, which is copied into every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryLimits {
    /// At this deadline the query is cancelled: its stream is dropped and its thread's runtime
    /// shut down, so it stops using CPU and gives back its turn.
    pub timeout_secs: u64,
    pub max_rows: usize,
    pub memory_bytes: usize,
    /// Arrow memory of the result batches kept for the answer.
    pub max_result_bytes: usize,
    /// Output of one call of a growing function over one batch.
    pub max_string_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout_secs: 30,
            max_rows: 10_000,
            memory_bytes: 512 * 1024 * 1024,
            max_result_bytes: 64 * 1024 * 1024,
            max_string_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("dataset {0} has no Parquet files yet")]
    NoData(String),
    #[error("only queries can run here (no DDL, DML or SET): {0}")]
    NotAQuery(String),
    #[error("SQL error: {0}")]
    Sql(String),
    #[error("the query ran longer than its limit of {0} s and was cancelled")]
    Timeout(u64),
    #[error(
        "tenant {tenant} already runs {running} queries, its share of this query service; \
         none finished within the query time limit"
    )]
    TenantBusy { tenant: String, running: usize },
    #[error("every query slot of this service stayed busy for the query time limit; try again")]
    Busy,
    #[error("the result is larger than the limit of {0} bytes; select fewer columns or add LIMIT")]
    ResultTooLarge(usize),
    #[error("{0}")]
    StringTooLong(String),
    #[error("the query needed more memory than its limit of {limit} bytes: {detail}")]
    Memory { limit: usize, detail: String },
    #[error("query failed: {0}")]
    Execution(String),
    #[error("{0}")]
    Destination(String),
}

impl QueryError {
    fn from_datafusion(error: DataFusionError, limits: &QueryLimits) -> QueryError {
        match error.find_root() {
            DataFusionError::ResourcesExhausted(detail) if detail.starts_with(STRING_TOO_LONG) => {
                QueryError::StringTooLong(detail.clone())
            }
            DataFusionError::ResourcesExhausted(detail) => QueryError::Memory {
                limit: limits.memory_bytes,
                detail: detail.clone(),
            },
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..) => QueryError::Sql(error.to_string()),
            _ => QueryError::Execution(error.to_string()),
        }
    }

    /// Whether the caller's SQL is at fault (a 4xx), rather than the service.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            QueryError::Execution(_) | QueryError::Destination(_) | QueryError::Busy
        )
    }

    /// The `cause` label of `bytefreezer_query_refused_total` for a limit that refused the
    /// query, `None` for other failures.
    pub fn limit_cause(&self) -> Option<&'static str> {
        Some(match self {
            QueryError::Timeout(_) => "timeout",
            QueryError::TenantBusy { .. } => "tenant_busy",
            QueryError::Busy => "busy",
            QueryError::Memory { .. } => "memory",
            QueryError::ResultTooLarge(_) => "result_bytes",
            QueryError::StringTooLong(_) => "string_bytes",
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The Arrow type, as DataFusion prints it (`Utf8`, `Int64`, `Timestamp(µs, "UTC")`).
    pub data_type: String,
    /// True for the `year`/`month`/`day`/`hour` folder columns.
    pub partition: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryOutput {
    pub columns: Vec<ColumnInfo>,
    /// One JSON object per row, nulls explicit.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    pub row_count: usize,
    /// More rows matched than `max_rows`; only the first `max_rows` are here.
    pub truncated: bool,
    pub elapsed_ms: u64,
    /// The physical plan, with the files each scan reads: shows partition pruning.
    pub plan: Option<String>,
}

/// Per-tenant turns, so one tenant's runaway queries cannot take every slot of `running`.
struct TenantTurns {
    per_tenant: usize,
    turns: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Idle tenants' entries are dropped once the map holds this many.
const MAX_IDLE_TENANT_ENTRIES: usize = 1024;

impl TenantTurns {
    fn of(&self, tenant: &str) -> Arc<Semaphore> {
        // A poisoned lock only means another query panicked while holding it; the map is
        // still consistent (entries are inserted whole).
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        if turns.len() >= MAX_IDLE_TENANT_ENTRIES {
            turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        }
        turns
            .entry(tenant.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
            .clone()
    }
}

/// Runs SQL over the datasets of one bucket with the Parquet layout.
#[derive(Clone)]
pub struct QueryEngine {
    bucket: Bucket,
    running: Arc<Semaphore>,
    tenants: Arc<TenantTurns>,
    /// Buckets a dataset's `destination.bucket` may name, as packer's `[packer.destinations]`.
    destinations: BTreeMap<String, Bucket>,
    /// Where each dataset's Parquet is (its destination); without it, the standard path.
    datasets: Option<watch::Receiver<Arc<DataPlaneConfig>>>,
}

impl QueryEngine {
    /// At most `max_concurrent` queries execute at once, at most one per tenant (see
    /// [`QueryEngine::with_tenant_limit`]); the others wait their turn.
    pub fn new(bucket: Bucket, max_concurrent: usize) -> QueryEngine {
        QueryEngine {
            bucket,
            running: Arc::new(Semaphore::new(max_concurrent.max(1))),
            tenants: Arc::new(TenantTurns {
                per_tenant: 1,
                turns: Mutex::new(HashMap::new()),
            }),
            destinations: BTreeMap::new(),
            datasets: None,
        }
    }

    /// At most `per_tenant` of the running queries belong to one tenant.
    pub fn with_tenant_limit(mut self, per_tenant: usize) -> QueryEngine {
        self.tenants = Arc::new(TenantTurns {
            per_tenant: per_tenant.max(1),
            turns: Mutex::new(HashMap::new()),
        });
        self
    }

    /// Reads each dataset where its destination says (bucket and prefix), with the named
    /// buckets the packer writes to.
    pub fn with_destinations(
        mut self,
        destinations: BTreeMap<String, Bucket>,
        datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    ) -> QueryEngine {
        self.destinations = destinations;
        self.datasets = Some(datasets);
        self
    }

    /// The bucket and folder of a dataset's Parquet.
    pub fn location(&self, tenant: &str, dataset: &str) -> Result<(Bucket, String), QueryError> {
        let destination = self
            .datasets
            .as_ref()
            .and_then(|config| {
                config
                    .borrow()
                    .dataset(tenant, dataset)
                    .map(|d| d.destination.clone())
            })
            .unwrap_or_default();
        let bucket = match &destination.bucket {
            None => self.bucket.clone(),
            Some(name) => self.destinations.get(name).cloned().ok_or_else(|| {
                QueryError::Destination(format!(
                    "dataset {tenant}/{dataset} writes to bucket {name:?}, which this query \
                     service does not have: add it under [query.destinations]"
                ))
            })?,
        };
        let folder = parquet_folder_in(destination.prefix.as_deref(), tenant, dataset);
        Ok((bucket, folder))
    }

    /// A session with the dataset registered as a table named after it.
    async fn session(
        &self,
        tenant: &str,
        dataset: &str,
        limits: &QueryLimits,
    ) -> Result<SessionContext, QueryError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_bytes, 1.0)
            .build_arc()
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        let config = SessionConfig::new().with_target_partitions(2);
        let mut context = SessionContext::new_with_config_rt(config, runtime);
        bounded_functions::register(&mut context, limits.max_string_bytes)
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        // JSON text columns (flows' `extra_fields`) read by key: `json_get_int`, `->>`, ...
        // Their output is a part of their input, so they need no bound.
        datafusion_functions_json::register_all(&mut context)
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        let (bucket, folder) = self.location(tenant, dataset)?;
        let store_url =
            url::Url::parse(STORE_URL).map_err(|e| QueryError::Execution(e.to_string()))?;
        context.register_object_store(&store_url, bucket.object_store());
        let table_url = ListingTableUrl::parse(format!("{STORE_URL}/{folder}"))
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(
                PARTITION_COLUMNS
                    .iter()
                    .map(|name| ((*name).to_owned(), DataType::Utf8))
                    .collect(),
            );
        let schema = options
            .infer_schema(&context.state(), &table_url)
            .await
            .map_err(|_| QueryError::NoData(format!("{tenant}/{dataset}")))?;
        if schema.fields().is_empty() {
            return Err(QueryError::NoData(format!("{tenant}/{dataset}")));
        }
        let table = ListingTable::try_new(
            ListingTableConfig::new(table_url)
                .with_listing_options(options)
                .with_schema(schema),
        )
        .map_err(|e| QueryError::Execution(e.to_string()))?;
        context
            .register_table(dataset, Arc::new(table))
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        Ok(context)
    }

    /// The dataset's columns, file columns first, then the partition folders.
    pub async fn columns(
        &self,
        tenant: &str,
        dataset: &str,
    ) -> Result<Vec<ColumnInfo>, QueryError> {
        let limits = QueryLimits::default();
        let context = self.session(tenant, dataset, &limits).await?;
        let table = context
            .table(dataset)
            .await
            .map_err(|e| QueryError::from_datafusion(e, &limits))?;
        Ok(column_infos(
            table
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name(), f.data_type())),
        ))
    }

    /// Runs one query (a `SELECT`, `WITH` or `EXPLAIN`) against the table named after `dataset`.
    pub async fn run(
        &self,
        tenant: &str,
        dataset: &str,
        sql: &str,
        limits: QueryLimits,
        with_plan: bool,
    ) -> Result<QueryOutput, QueryError> {
        let started = Instant::now();
        let timeout_secs = limits.timeout_secs.max(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
        let context = self.session(tenant, dataset, &limits).await?;
        let read_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = context
            .sql_with_options(sql, read_only)
            .await
            .map_err(|e| match e.find_root() {
                DataFusionError::Plan(message) if message.contains("not supported") => {
                    QueryError::NotAQuery(message.clone())
                }
                _ => QueryError::from_datafusion(e, &limits),
            })?;
        let columns = column_infos(
            frame
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name(), f.data_type())),
        );
        let limited = frame
            .limit(0, Some(limits.max_rows.saturating_add(1)))
            .map_err(|e| QueryError::from_datafusion(e, &limits))?;
        let tenant_turn =
            tokio::time::timeout_at(deadline, self.tenants.of(tenant).acquire_owned())
                .await
                .map_err(|_| QueryError::TenantBusy {
                    tenant: tenant.to_owned(),
                    running: self.tenants.per_tenant,
                })?
                .map_err(|_| QueryError::Execution("the query service is stopping".into()))?;
        let turn = tokio::time::timeout_at(deadline, self.running.clone().acquire_owned())
            .await
            .map_err(|_| QueryError::Busy)?
            .map_err(|_| QueryError::Execution("the query service is stopping".into()))?;
        // Operators such as joins can compute for long stretches without yielding, where no
        // async timeout can interrupt them. Each query therefore runs on a thread of its own
        // with its own runtime, so the service's runtime keeps answering. At the deadline (or
        // when the caller goes away) `cancel` is dropped: the thread stops polling the stream at
        // its next yield (DataFusion yields between batches) and shuts its runtime down, which
        // aborts the tasks the plan spawned. The turns stay with the thread until its work has
        // really ended, so runaway queries cannot pile up.
        let (cancel, cancelled) = oneshot::channel::<()>();
        let (sender, receiver) = oneshot::channel();
        std::thread::Builder::new()
            .name("bytefreezer-query".into())
            .spawn(move || {
                let result = execute_on_own_runtime(limited, limits, with_plan, cancelled);
                drop((turn, tenant_turn));
                let _ = sender.send(result);
            })
            .map_err(|e| QueryError::Execution(format!("cannot start the query thread: {e}")))?;
        let (batches, plan) = tokio::time::timeout_at(deadline, receiver)
            .await
            .map_err(|_| QueryError::Timeout(timeout_secs))?
            .map_err(|_| QueryError::Execution("the query thread ended without an answer".into()))?
            .map_err(|e| match e {
                Stopped::Cancelled => QueryError::Timeout(timeout_secs),
                Stopped::Failed(error) => error,
            })?;
        drop(cancel);
        let mut rows = rows_as_json(&batches)?;
        let truncated = rows.len() > limits.max_rows;
        rows.truncate(limits.max_rows);
        Ok(QueryOutput {
            columns,
            row_count: rows.len(),
            rows,
            truncated,
            elapsed_ms: started.elapsed().as_millis() as u64,
            plan,
        })
    }
}

/// Why a query thread gave no batches.
enum Stopped {
    Cancelled,
    Failed(QueryError),
}

/// Runs the query to completion, or until `cancelled` resolves (its sender dropped).
fn execute_on_own_runtime(
    frame: DataFrame,
    limits: QueryLimits,
    with_plan: bool,
    cancelled: oneshot::Receiver<()>,
) -> Result<(Vec<RecordBatch>, Option<String>), Stopped> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Stopped::Failed(QueryError::Execution(format!(
                "cannot start the query runtime: {e}"
            )))
        })?;
    let result = runtime.block_on(async move {
        tokio::select! {
            biased;
            _ = cancelled => Err(Stopped::Cancelled),
            result = execute(frame, limits, with_plan) => result.map_err(Stopped::Failed),
        }
    });
    // Drops whatever the plan spawned on this runtime; blocking file reads already started end
    // by themselves.
    runtime.shutdown_background();
    result
}

async fn execute(
    frame: DataFrame,
    limits: QueryLimits,
    with_plan: bool,
) -> Result<(Vec<RecordBatch>, Option<String>), QueryError> {
    let task = frame.task_ctx();
    let (state, plan) = frame.into_parts();
    let planned = async {
        let optimized = state.optimize(&plan)?;
        check_literals(
            &optimized,
            limits.max_string_bytes,
            state.config().batch_size(),
        )?;
        state
            .query_planner()
            .create_physical_plan(&optimized, &state)
            .await
    };
    let physical = planned
        .await
        .map_err(|e| QueryError::from_datafusion(e, &limits))?;
    let plan = with_plan.then(|| displayable(physical.as_ref()).indent(true).to_string());
    let mut stream = execute_stream(physical, Arc::new(task))
        .map_err(|e| QueryError::from_datafusion(e, &limits))?;
    let mut batches = Vec::new();
    let mut bytes = 0usize;
    // bounded by max_result_bytes ([query.limits]), checked as each batch arrives
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| QueryError::from_datafusion(e, &limits))?;
        bytes = bytes.saturating_add(batch.get_array_memory_size());
        if bytes > limits.max_result_bytes {
            return Err(QueryError::ResultTooLarge(limits.max_result_bytes));
        }
        batches.push(batch);
    }
    Ok((batches, plan))
}

fn column_infos<'a>(fields: impl Iterator<Item = (&'a String, &'a DataType)>) -> Vec<ColumnInfo> {
    fields
        .map(|(name, data_type)| ColumnInfo {
            partition: PARTITION_COLUMNS.contains(&name.as_str()),
            name: name.clone(),
            data_type: data_type.to_string(),
        })
        .collect()
}

fn rows_as_json(
    batches: &[RecordBatch],
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, QueryError> {
    let mut writer = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(Vec::new());
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| QueryError::Execution(format!("cannot render rows: {e}")))?;
    }
    writer
        .finish()
        .map_err(|e| QueryError::Execution(format!("cannot render rows: {e}")))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| QueryError::Execution(format!("cannot render rows: {e}")))
}

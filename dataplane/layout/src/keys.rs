use crate::hour::HourPartition;
use crate::identifier::validate_identifier;

/// Objects the pipeline keeps for itself (leases, plans) live under this prefix, which no
/// tenant identifier can take because identifiers start with a letter or digit.
pub const INTERNAL_PREFIX: &str = "_bytefreezer";

pub(crate) const ARROW_STREAM_SUFFIX: &str = ".arrows";
const PARQUET_SUFFIX: &str = ".parquet";

/// The stage that consumes objects, used to scope leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Piper,
    Packer,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Piper => "piper",
            Stage::Packer => "packer",
        }
    }

    pub fn parse(name: &str) -> Option<Stage> {
        match name {
            "piper" => Some(Stage::Piper),
            "packer" => Some(Stage::Packer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeObject {
    pub tenant_id: String,
    pub dataset_id: String,
    pub batch_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiperObject {
    pub tenant_id: String,
    pub dataset_id: String,
    pub hour: HourPartition,
    pub batch_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetObject {
    pub tenant_id: String,
    pub dataset_id: String,
    pub hour: HourPartition,
    pub file_id: String,
}

/// `{tenant}/{dataset}/`: everything a dataset owns in any bucket.
pub fn dataset_prefix(tenant_id: &str, dataset_id: &str) -> String {
    format!("{tenant_id}/{dataset_id}/")
}

/// Intake bucket: `{tenant}/{dataset}/{batch_id}.arrows`.
pub fn intake_object(tenant_id: &str, dataset_id: &str, batch_id: &str) -> String {
    format!("{tenant_id}/{dataset_id}/{batch_id}{ARROW_STREAM_SUFFIX}")
}

pub fn parse_intake_object(key: &str) -> Option<IntakeObject> {
    let [tenant_id, dataset_id, file] = split::<3>(key)?;
    let batch_id = file.strip_suffix(ARROW_STREAM_SUFFIX)?;
    checked_ids(&[tenant_id, dataset_id, batch_id])?;
    Some(IntakeObject {
        tenant_id: tenant_id.into(),
        dataset_id: dataset_id.into(),
        batch_id: batch_id.into(),
    })
}

/// Piper bucket: `{tenant}/{dataset}/year=YYYY/month=MM/day=DD/hour=HH/{batch_id}.arrows`. One
/// intake batch may yield one piper object per event hour, all named after the intake batch.
pub fn piper_object(
    tenant_id: &str,
    dataset_id: &str,
    hour: &HourPartition,
    batch_id: &str,
) -> String {
    format!(
        "{tenant_id}/{dataset_id}/{}/{batch_id}{ARROW_STREAM_SUFFIX}",
        hour.path_segment()
    )
}

pub fn parse_piper_object(key: &str) -> Option<PiperObject> {
    let [tenant_id, dataset_id, year, month, day, hour, file] = split::<7>(key)?;
    let batch_id = file.strip_suffix(ARROW_STREAM_SUFFIX)?;
    checked_ids(&[tenant_id, dataset_id, batch_id])?;
    Some(PiperObject {
        tenant_id: tenant_id.into(),
        dataset_id: dataset_id.into(),
        hour: HourPartition::parse_path_segments(&[year, month, day, hour])?,
        batch_id: batch_id.into(),
    })
}

/// Packer bucket: `{tenant}/{dataset}/data/parquet/year=YYYY/month=MM/day=DD/hour=HH/{file}.parquet`.
pub fn parquet_object(
    tenant_id: &str,
    dataset_id: &str,
    hour: &HourPartition,
    file_id: &str,
) -> String {
    format!(
        "{tenant_id}/{dataset_id}/data/parquet/{}/{file_id}{PARQUET_SUFFIX}",
        hour.path_segment()
    )
}

/// The folder of a dataset's Parquet files under a destination prefix:
/// `[{prefix}/]{tenant}/{dataset}/data/parquet/`.
pub fn parquet_folder_in(prefix: Option<&str>, tenant_id: &str, dataset_id: &str) -> String {
    let folder = format!("{}data/parquet/", dataset_prefix(tenant_id, dataset_id));
    match prefix {
        Some(prefix) => format!("{}/{folder}", prefix.trim_matches('/')),
        None => folder,
    }
}

/// [`parquet_object`] under a destination prefix (`a/b` gives `a/b/{tenant}/...`).
pub fn parquet_object_in(
    prefix: Option<&str>,
    tenant_id: &str,
    dataset_id: &str,
    hour: &HourPartition,
    file_id: &str,
) -> String {
    let key = parquet_object(tenant_id, dataset_id, hour, file_id);
    match prefix {
        Some(prefix) => format!("{}/{key}", prefix.trim_matches('/')),
        None => key,
    }
}

pub fn parse_parquet_object(key: &str) -> Option<ParquetObject> {
    let [
        tenant_id,
        dataset_id,
        "data",
        "parquet",
        year,
        month,
        day,
        hour,
        file,
    ] = split::<9>(key)?
    else {
        return None;
    };
    let file_id = file.strip_suffix(PARQUET_SUFFIX)?;
    checked_ids(&[tenant_id, dataset_id, file_id])?;
    Some(ParquetObject {
        tenant_id: tenant_id.into(),
        dataset_id: dataset_id.into(),
        hour: HourPartition::parse_path_segments(&[year, month, day, hour])?,
        file_id: file_id.into(),
    })
}

/// The lease a consumer stage takes on one input object before working on it.
pub fn lease_object(stage: Stage, consumed_key: &str) -> String {
    format!("{INTERNAL_PREFIX}/leases/{}/{consumed_key}", stage.as_str())
}

/// The object a service writes and deletes to prove it can write to a bucket.
pub fn probe_object(holder: &str) -> String {
    format!("{INTERNAL_PREFIX}/probes/{holder}")
}

/// Packer bucket: the record that the piper object `piper_key` went into a Parquet file. It
/// outlives the object, so a copy of the same object written again later (a batch the proxy
/// resent after its acknowledgement was lost, an intake object piper transformed again after a
/// crash) is recognised by its name and dropped instead of packed a second time.
pub fn packed_marker_object(piper_key: &str) -> String {
    format!("{INTERNAL_PREFIX}/packed/{piper_key}")
}

/// Packer bucket: every packed marker, `_bytefreezer/packed/{tenant}/{dataset}/year=…/…/`.
pub fn packed_marker_prefix() -> String {
    format!("{INTERNAL_PREFIX}/packed/")
}

pub fn packer_plan_prefix() -> String {
    format!("{INTERNAL_PREFIX}/plans/")
}

/// The plan the packer writes before a Parquet file: which inputs it contains. Recovery
/// replays plans, so a crash never packs an input twice.
pub fn packer_plan_object(
    tenant_id: &str,
    dataset_id: &str,
    hour: &HourPartition,
    file_id: &str,
) -> String {
    format!(
        "{INTERNAL_PREFIX}/plans/{tenant_id}/{dataset_id}/{}/{file_id}.json",
        hour.path_segment()
    )
}

pub fn parse_packer_plan_object(key: &str) -> Option<ParquetObject> {
    let rest = key.strip_prefix(INTERNAL_PREFIX)?.strip_prefix("/plans/")?;
    let [tenant_id, dataset_id, year, month, day, hour, file] = split::<7>(rest)?;
    let file_id = file.strip_suffix(".json")?;
    checked_ids(&[tenant_id, dataset_id, file_id])?;
    Some(ParquetObject {
        tenant_id: tenant_id.into(),
        dataset_id: dataset_id.into(),
        hour: HourPartition::parse_path_segments(&[year, month, day, hour])?,
        file_id: file_id.into(),
    })
}

pub(crate) fn split<const N: usize>(key: &str) -> Option<[&str; N]> {
    let mut parts = key.split('/');
    let mut out = [""; N];
    for slot in out.iter_mut() {
        *slot = parts.next()?;
    }
    parts.next().is_none().then_some(out)
}

fn checked_ids(ids: &[&str]) -> Option<()> {
    ids.iter()
        .all(|id| validate_identifier("identifier", id).is_ok())
        .then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour() -> HourPartition {
        HourPartition {
            year: 2026,
            month: 11,
            day: 4,
            hour: 7,
        }
    }

    #[test]
    fn parquet_keys_have_the_documented_layout_and_parse_back() {
        let key = parquet_object("acme", "fw", &hour(), "f1");
        assert_eq!(
            key,
            "acme/fw/data/parquet/year=2026/month=11/day=04/hour=07/f1.parquet"
        );
        let parsed = parse_parquet_object(&key).unwrap();
        assert_eq!(parsed.hour, hour());
        assert_eq!(parsed.file_id, "f1");
    }

    #[test]
    fn intake_and_piper_keys_round_trip() {
        let intake = intake_object("acme", "fw", "b1");
        assert_eq!(parse_intake_object(&intake).unwrap().batch_id, "b1");
        let piper = piper_object("acme", "fw", &hour(), "b1");
        let parsed = parse_piper_object(&piper).unwrap();
        assert_eq!((parsed.hour, parsed.batch_id.as_str()), (hour(), "b1"));
        let plan = packer_plan_object("acme", "fw", &hour(), "f1");
        assert_eq!(parse_packer_plan_object(&plan).unwrap().file_id, "f1");
    }

    #[test]
    fn foreign_keys_do_not_parse() {
        assert!(parse_intake_object("_bytefreezer/leases/piper/a/b/c.arrows").is_none());
        assert!(parse_intake_object("acme/fw/b1.tmp").is_none());
        assert!(parse_piper_object("acme/fw/year=2026/month=13/day=01/hour=00/b.arrows").is_none());
        assert!(parse_parquet_object("acme/fw/data/parquet/x/y/z/w/f.parquet").is_none());
    }
}
